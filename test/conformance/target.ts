import { randomUUID } from "node:crypto";
import { QdrantClient } from "@qdrant/js-client-grpc";
import { pino } from "pino";
import { createEmbeddedQdrant, type EmbeddedQdrant } from "../../src/embedded/qdrant/index.js";

/**
 * Where the conformance suite points: the embedded server on an ephemeral port by default, or a real
 * Qdrant when QDRANT_URL (e.g. http://localhost:6334) or QDRANT_HOST / QDRANT_GRPC_PORT is set
 * (QDRANT_API_KEY is passed along). The same cases must pass against both.
 */
export interface Target {
  readonly embedded: boolean;
  /** http://host:port of the gRPC endpoint. */
  readonly url: string;
  client(options?: { compression?: boolean; checkCompatibility?: boolean; apiKey?: string }): QdrantClient;
  stop(): Promise<void>;
}

export async function startTarget(env: NodeJS.ProcessEnv = process.env): Promise<Target> {
  const url =
    env.QDRANT_URL ?? (env.QDRANT_HOST ? `http://${env.QDRANT_HOST}:${env.QDRANT_GRPC_PORT ?? "6334"}` : undefined);
  if (url !== undefined) {
    return {
      embedded: false,
      url,
      client: (o = {}) =>
        new QdrantClient({
          url,
          apiKey: o.apiKey ?? env.QDRANT_API_KEY,
          compression: o.compression ?? false,
          checkCompatibility: o.checkCompatibility ?? false,
        }),
      stop: async () => {},
    };
  }
  const server: EmbeddedQdrant = createEmbeddedQdrant({ logger: pino({ level: "silent" }) });
  const { host, port } = await server.start();
  return {
    embedded: true,
    url: `http://${host}:${port}`,
    client: (o = {}) =>
      new QdrantClient({
        url: `http://${host}:${port}`,
        apiKey: o.apiKey,
        compression: o.compression ?? false,
        checkCompatibility: o.checkCompatibility ?? false,
      }),
    stop: () => server.stop(),
  };
}

/** A collection name no other test (or earlier run against a shared Qdrant) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomUUID().slice(0, 8)}`;
}
