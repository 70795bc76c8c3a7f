// Health and reflection over a real HTTP/2 socket, called the way operators call them: `buf curl`
// (grpcurl's npm-installable equivalent) through reflection, and a @grpc/grpc-js client.
import { EventEmitter, once } from "node:events";
import { readdirSync } from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";

import { type DescFile, type DescMessage, type MessageShape, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";

import {
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  file_grpc_health_v1_health,
} from "../../gen/grpc/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { type Health, createHealth } from "../../src/grpc/health.js";
import { registerReflection } from "../../src/grpc/reflection.js";
import { bufCurl } from "../helpers/buf-curl.js";

// Our own API's generated files, whatever they are called, so reflection is proven on them too.
const apiFiles: DescFile[] = await loadGeneratedFiles(new URL("../../gen/dq/embeddings/v1/", import.meta.url));

const files = [
  ...apiFiles,
  file_grpc_health_v1_health,
  file_grpc_reflection_v1_reflection,
  file_grpc_reflection_v1alpha_reflection,
];

interface TestServer {
  readonly url: string;
  readonly address: string;
  readonly health: Health;
  /**
   * Server-side Watch events: "message" when a response has been produced, "end" when the
   * handler's response stream has finished (normally, by cancellation or by error).
   */
  readonly watchEvents: EventEmitter;
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(): Promise<TestServer> {
  const health = createHealth();
  const watchEvents = new EventEmitter();
  // Observes Watch on the server, so tests can wait for "sent" or "ended" instead of sleeping.
  const observeWatch: Interceptor = (next) => async (request) => {
    const response = await next(request);
    if (!response.stream || request.method.name !== "Watch") return response;
    const messages = response.message;
    return {
      ...response,
      message: (async function* () {
        try {
          for await (const message of messages) {
            yield message;
            watchEvents.emit("message", message);
          }
        } finally {
          watchEvents.emit("end");
        }
      })(),
    };
  };
  const server = http2.createServer(
    connectNodeAdapter({
      interceptors: [observeWatch],
      routes(router) {
        health.register(router);
        registerReflection(router, files);
      },
    }),
  );
  // Open sessions keep server.close() waiting (clients such as grpc-js hold theirs open), so
  // track them and close them ourselves.
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const close = async () => {
    health.shutdown();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const session of sessions) session.destroy();
    await closed;
  };
  cleanups.push(close);
  return {
    url: `http://127.0.0.1:${port}`,
    address: `127.0.0.1:${port}`,
    health,
    watchEvents,
    close,
  };
}

describe("reflection through buf curl", () => {
  it("lists every service the server was given, health and reflection included", async () => {
    const { url } = await startServer();
    const result = await bufCurl(url, { listServices: true });
    expect(result.exitCode, result.stderr).toBe(0);
    const expected = files.flatMap((f) => f.services.map((s) => s.typeName));
    expect([...result.lines].sort()).toEqual([...expected].sort());
    expect(result.lines).toContain("grpc.health.v1.Health");
    expect(result.lines).toContain("grpc.reflection.v1.ServerReflection");
    expect(result.lines).toContain("grpc.reflection.v1alpha.ServerReflection");
  });

  it("lists every method, resolving each service's file and imports through reflection", async () => {
    const { url } = await startServer();
    const result = await bufCurl(url, { listMethods: true });
    expect(result.exitCode, result.stderr).toBe(0);
    const expected = files.flatMap((f) => f.services.flatMap((s) => s.methods.map((m) => `${s.typeName}/${m.name}`)));
    expect([...result.lines].sort()).toEqual([...expected].sort());
    expect(result.lines).toEqual(
      expect.arrayContaining([
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/List",
        "grpc.health.v1.Health/Watch",
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      ]),
    );
  });

  it("works with the v1alpha reflection protocol alone", async () => {
    const { url } = await startServer();
    const result = await bufCurl(url, { listMethods: true }, { reflectProtocol: "grpc-v1alpha" });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.lines).toContain("grpc.health.v1.Health/Check");
  });
});

describe("health through buf curl", () => {
  it("checks the whole server and follows set()", async () => {
    const { url, health } = await startServer();
    const serving = await bufCurl(url, { method: "grpc.health.v1.Health/Check", data: { service: "" } });
    expect(serving.exitCode, serving.stderr).toBe(0);
    expect(serving.json).toEqual([{ status: "SERVING" }]);

    health.set("", "NOT_SERVING");
    const notServing = await bufCurl(url, { method: "grpc.health.v1.Health/Check" });
    expect(notServing.json).toEqual([{ status: "NOT_SERVING" }]);
  });

  it("answers NOT_FOUND for an unknown service", async () => {
    const { url } = await startServer();
    const result = await bufCurl(url, {
      method: "grpc.health.v1.Health/Check",
      data: { service: "dq.embeddings.v1.Nope" },
    });
    expect(result.grpcCode).toBe(grpc.status.NOT_FOUND);
    expect(result.error?.code).toBe("not_found");
    expect(result.error?.message).toContain("dq.embeddings.v1.Nope");
  });

  it("checks through v1alpha reflection too", async () => {
    const { url, health } = await startServer();
    health.set("dq.embeddings.v1.EmbeddingService", "SERVING");
    const result = await bufCurl(
      url,
      { method: "grpc.health.v1.Health/Check", data: { service: "dq.embeddings.v1.EmbeddingService" } },
      { reflectProtocol: "grpc-v1alpha" },
    );
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.json).toEqual([{ status: "SERVING" }]);
  });

  it("lists statuses", async () => {
    const { url, health } = await startServer();
    health.set("a", "NOT_SERVING");
    const result = await bufCurl(url, { method: "grpc.health.v1.Health/List" });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.json).toEqual([{ statuses: { "": { status: "SERVING" }, a: { status: "NOT_SERVING" } } }]);
  });

  it("streams Watch: the current status, then NOT_SERVING when the server shuts down", async () => {
    const { url, health, watchEvents } = await startServer();
    const firstSent = once(watchEvents, "message");
    const watching = bufCurl(url, { method: "grpc.health.v1.Health/Watch" });
    await firstSent;
    health.shutdown();
    const result = await watching;
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.json).toEqual([{ status: "SERVING" }, { status: "NOT_SERVING" }]);
  });
});

describe("health through @grpc/grpc-js", () => {
  function connect(address: string) {
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    cleanups.push(() => client.close());
    const check = (service: string) =>
      new Promise<MessageShape<typeof HealthCheckResponseSchema>>((resolve, reject) =>
        client.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          serializer(HealthCheckRequestSchema),
          deserializer(HealthCheckResponseSchema),
          create(HealthCheckRequestSchema, { service }),
          (error, response) => (error ? reject(error) : resolve(response!)),
        ),
      );
    const watch = (service: string) =>
      client.makeServerStreamRequest(
        "/grpc.health.v1.Health/Watch",
        serializer(HealthCheckRequestSchema),
        deserializer(HealthCheckResponseSchema),
        create(HealthCheckRequestSchema, { service }),
      );
    return { check, watch };
  }

  it("checks, and fails with NOT_FOUND for an unknown service", async () => {
    const { address } = await startServer();
    const { check } = connect(address);
    expect((await check("")).status).toBe(ServingStatus.SERVING);
    await expect(check("nope")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it("streams a status change, and the server ends Watch when the client cancels", async () => {
    const server = await startServer();
    const { watch } = connect(server.address);
    const handlerEnded = once(server.watchEvents, "end");
    const call = watch("");
    const statusReceived = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    call.on("error", () => {}); // the cancellation surfaces as an error event; asserted via status
    const messages = call[Symbol.asyncIterator]() as AsyncIterator<MessageShape<typeof HealthCheckResponseSchema>>;

    expect((await messages.next()).value.status).toBe(ServingStatus.SERVING);
    server.health.set("", "NOT_SERVING");
    expect((await messages.next()).value.status).toBe(ServingStatus.NOT_SERVING);

    call.cancel();
    expect((await statusReceived).code).toBe(grpc.status.CANCELLED);
    await handlerEnded;
  });

  it("reports SERVICE_UNKNOWN without ending, then the service's status once set", async () => {
    const server = await startServer();
    const { watch } = connect(server.address);
    const call = watch("dq.embeddings.v1.RetrievalService");
    call.on("error", () => {});
    const messages = call[Symbol.asyncIterator]() as AsyncIterator<MessageShape<typeof HealthCheckResponseSchema>>;
    expect((await messages.next()).value.status).toBe(ServingStatus.SERVICE_UNKNOWN);
    server.health.set("dq.embeddings.v1.RetrievalService", "SERVING");
    expect((await messages.next()).value.status).toBe(ServingStatus.SERVING);
    call.cancel();
  });

  it("ends open Watch streams with OK after NOT_SERVING on shutdown", async () => {
    const server = await startServer();
    const { watch } = connect(server.address);
    const call = watch("");
    const statusReceived = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    const received: ServingStatus[] = [];
    for await (const message of call as AsyncIterable<MessageShape<typeof HealthCheckResponseSchema>>) {
      received.push(message.status);
      if (received.length === 1) server.health.shutdown();
    }
    expect(received).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    expect((await statusReceived).code).toBe(grpc.status.OK);
  });
});

function serializer<Desc extends DescMessage>(schema: Desc) {
  return (message: MessageShape<Desc>) => Buffer.from(toBinary(schema, message));
}

function deserializer<Desc extends DescMessage>(schema: Desc) {
  return (bytes: Buffer) => fromBinary(schema, bytes);
}

async function loadGeneratedFiles(directory: URL): Promise<DescFile[]> {
  let names: string[];
  try {
    names = readdirSync(directory).filter((name) => name.endsWith("_pb.ts"));
  } catch {
    return [];
  }
  const found: DescFile[] = [];
  for (const name of names) {
    const module = (await import(new URL(name.replace(/\.ts$/, ".js"), directory).href)) as Record<string, unknown>;
    for (const value of Object.values(module)) {
      if (value && typeof value === "object" && "kind" in value && value.kind === "file") found.push(value as DescFile);
    }
  }
  return found;
}
