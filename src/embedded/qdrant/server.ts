import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { compressionGzip, connectNodeAdapter } from "@connectrpc/connect-node";
import { HealthCheckReplySchema, HealthCheckRequestSchema } from "@qdrant/js-client-grpc";
import { file_grpc_health_v1_health } from "../../../gen/grpc/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import { createHealth } from "../../grpc/health.js";
import { registerReflection } from "../../grpc/reflection.js";
import { apiKeyInterceptor } from "./auth.js";
import { collectionsHandlers } from "./collections-service.js";
import { loadQdrantDescriptors } from "./descriptors.js";
import type { Engine } from "./engine.js";
import { listenOn } from "./listen.js";
import { pointsHandlers } from "./points-service.js";
import { registerService, unary } from "./rpc.js";

/** The version the client's compatibility check sees; the API follows Qdrant 1.19. */
export const QDRANT_VERSION = "1.19.0";
export const QDRANT_TITLE = "qdrant - vector search engine";

/** 4 MiB HTTP/2 windows: Node's 64 KiB default caps loopback at ~430 MB/s (DESIGN.md). */
const WINDOW_BYTES = 4 * 1024 * 1024;

export interface GrpcServer {
  listen(host: string, port: number): Promise<AddressInfo>;
  close(): Promise<void>;
}

/**
 * A plaintext HTTP/2 (h2c) server speaking gRPC on the descriptors shipped with the client package,
 * accepting gzip and identity like Qdrant (src/tonic/mod.rs). It tracks its sessions so `close()`
 * ends them itself: the qdrant client has no close() and would otherwise hold the server open.
 */
export function createGrpcServer(engine: Engine, apiKey: string | undefined): GrpcServer {
  const descriptors = loadQdrantDescriptors();
  // grpc.health.v1 as Qdrant serves it (src/tonic/mod.rs HealthService): the server and its services are SERVING.
  const health = createHealth({
    initial: { "": "SERVING", "qdrant.Qdrant": "SERVING", "qdrant.Collections": "SERVING", "qdrant.Points": "SERVING" },
  });
  const routes = (router: ConnectRouter): void => {
    health.register(router);
    // Reflection v1 and v1alpha, as Qdrant serves them (src/tonic/mod.rs): grpcurl / buf curl need no protos.
    registerReflection(router, [
      descriptors.qdrant.file,
      descriptors.collections.file,
      descriptors.points.file,
      file_grpc_health_v1_health,
      file_grpc_reflection_v1_reflection,
    ]);
    registerService(router, descriptors.qdrant, {
      healthCheck: unary(HealthCheckRequestSchema, HealthCheckReplySchema, async () => ({
        title: QDRANT_TITLE,
        version: QDRANT_VERSION,
      })),
    });
    registerService(router, descriptors.collections, collectionsHandlers(engine));
    registerService(router, descriptors.points, pointsHandlers(engine));
    registerService(router, descriptors.snapshots, {});
  };
  const interceptors: Interceptor[] = apiKey === undefined ? [] : [apiKeyInterceptor(apiKey)];
  const handler = connectNodeAdapter({
    routes,
    grpc: true,
    grpcWeb: false,
    connect: false,
    acceptCompression: [compressionGzip],
    readMaxBytes: 0xffffffff,
    interceptors,
  });
  const server = http2.createServer(
    { settings: { initialWindowSize: WINDOW_BYTES, maxFrameSize: 1 << 20 }, maxSessionMemory: 64 },
    handler,
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.once("connect", () => session.setLocalWindowSize(WINDOW_BYTES));
    if (!session.connecting) session.setLocalWindowSize(WINDOW_BYTES);
  });

  return {
    listen: (host, port) => listenOn(server, host, port),
    close: () =>
      new Promise((resolve) => {
        health.shutdown();
        if (!server.listening) return resolve();
        server.close(() => resolve());
        for (const session of sessions) session.close();
        setTimeout(() => {
          for (const session of sessions) session.destroy();
        }, 2000).unref();
      }),
  };
}
