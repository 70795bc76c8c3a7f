import { createHash } from "node:crypto";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { createApp, type AppOverrides, type RunningApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { EmbeddingService } from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { RetrievalService } from "../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

export interface TestApp {
  running: RunningApp;
  baseUrl: string;
  embeddings: Client<typeof EmbeddingService>;
  retrieval: Client<typeof RetrievalService>;
  database: TestDatabase;
  metricsText(): Promise<string>;
  stop(): Promise<void>;
}

export interface StartTestAppOptions {
  /** Extra environment, as the service would read it (e.g. API_KEYS, QDRANT_HOST). */
  env?: Record<string, string>;
  overrides?: AppOverrides;
  /** The test is about the Qdrant the service embeds: never sent to TEST_QDRANT_URL. */
  embeddedQdrant?: boolean;
  /** Reuse a database; by default each app gets its own, dropped on stop(). */
  database?: TestDatabase;
}

/**
 * The whole app on port 0 against a real Postgres database of its own (PGlite where no server runs)
 * and, unless the env points elsewhere, the embedded Qdrant; called through a real gRPC client.
 */
export async function startTestApp(options: StartTestAppOptions = {}): Promise<TestApp> {
  const database = options.database ?? (await createTestDatabase());
  const config = loadConfig({
    DATABASE_URL: database.url,
    GRPC_HOST: "127.0.0.1",
    GRPC_PORT: "0",
    METRICS_HOST: "127.0.0.1",
    METRICS_PORT: "0",
    QDRANT_PORT: "0", // the embedded Qdrant's REST API on any free port, never 6333
    LOG_LEVEL: "silent",
    READINESS_INTERVAL_MS: "100",
    SHUTDOWN_GRACE_MS: "5000",
    ...(options.embeddedQdrant === true ? {} : realQdrant(database, options.env)),
    ...options.env,
  });
  // TEST_LOG_LEVEL=debug shows the service log of every test app.
  const app = createApp(config, {
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
    ...options.overrides,
  });
  let running: RunningApp;
  try {
    running = await app.start();
  } catch (error) {
    await app.stop();
    if (options.database === undefined) {
      await database.drop();
    }
    throw error;
  }
  const baseUrl = `http://127.0.0.1:${running.grpcPort}`;
  const transport = createGrpcTransport({ baseUrl });
  return {
    running,
    baseUrl,
    embeddings: createClient(EmbeddingService, transport),
    retrieval: createClient(RetrievalService, transport),
    database,
    async metricsText() {
      const response = await fetch(`http://127.0.0.1:${running.metricsPort}/metrics`);
      return response.text();
    },
    async stop() {
      await app.stop();
      if (options.database === undefined) {
        await database.drop();
      }
    },
  };
}

/**
 * TEST_QDRANT_URL=http://127.0.0.1:6334 runs the test apps against a real Qdrant: each test database
 * gets an alias of its own there (apps sharing a database share it, as replicas would), so tests never
 * meet each other's points. Apps given a Qdrant of their own (QDRANT_HOST or QDRANT_URL) keep it.
 */
function realQdrant(database: TestDatabase, env: Record<string, string> = {}): Record<string, string> {
  const url = process.env.TEST_QDRANT_URL;
  if (url === undefined || url === "" || env.QDRANT_HOST !== undefined || env.QDRANT_URL !== undefined) return {};
  const alias = `test_${createHash("sha256").update(database.url).digest("hex").slice(0, 12)}`;
  return { QDRANT_URL: url, QDRANT_COLLECTION_NAME: alias };
}
