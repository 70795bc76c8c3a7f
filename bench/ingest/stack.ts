import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import type { Logger } from "pino";
import { runMigrations } from "../../src/stores/migrations.js";
import { HealthCheckResponse_ServingStatus, Health } from "../../gen/grpc/health/v1/health_pb.js";
import { freePort, startNode, type Child } from "./processes.js";

/**
 * What the ingest benchmarks run against: a scratch database on the real Postgres (migrated with the
 * service's migrations), the embedded Qdrant as its own process, and the service as its own process
 * (`node --import tsx src/main.ts`), serving once health says SERVING.
 */
export interface Stack {
  databaseUrl: string;
  qdrant: Child & { port: number };
  service: Child & { port: number };
  stop(): Promise<void>;
}

export async function startStack(options: {
  adminUrl: string;
  dimensions: number;
  logger: Logger;
  serviceNodeArgs?: string[];
}): Promise<Stack> {
  const databaseName = `dq_bench_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: options.adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${databaseName}`);
  const databaseUrl = new URL(options.adminUrl);
  databaseUrl.pathname = `/${databaseName}`;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "dq-bench-ingest-"));
  const children: Child[] = [];
  const stop = async () => {
    for (const child of children.reverse()) await child.stop();
    await admin.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await runMigrations({ databaseUrl: databaseUrl.href, logger: options.logger });
    const qdrantPort = await freePort();
    const qdrant = await startNode(
      "src/cli/embedded-qdrant.ts",
      // No compaction during the run: it rewrites every point at once (seconds, in whichever phase
      // happens to cross the threshold), which would blur the comparison between phases.
      [
        "--port",
        String(qdrantPort),
        "--data-dir",
        path.join(dataDir, "qdrant"),
        "--log-level",
        "info",
        "--compact-at-mib",
        "65536",
      ],
      {},
      (entry) => String(entry.msg).includes("ready"),
    );
    children.push(qdrant);
    const grpcPort = await freePort();
    const service = await startNode(
      "src/main.ts",
      [],
      {
        DATABASE_URL: databaseUrl.href,
        QDRANT_HOST: "127.0.0.1",
        QDRANT_GRPC_PORT: String(qdrantPort),
        QDRANT_COLLECTION_NAME: "bench_service",
        GRPC_HOST: "127.0.0.1",
        GRPC_PORT: String(grpcPort),
        METRICS_PORT: "0",
        EMBEDDING_DIMENSIONS: String(options.dimensions),
        LOG_LEVEL: "info",
        DATA_DIR: path.join(dataDir, "service"),
      },
      (entry) => String(entry.msg).startsWith("gRPC server listening"),
      options.serviceNodeArgs ?? [],
    );
    children.push(service);
    const health = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` }));
    for (;;) {
      const status = await health.check({ service: "" }).catch(() => undefined);
      if (status?.status === HealthCheckResponse_ServingStatus.SERVING) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return {
      databaseUrl: databaseUrl.href,
      qdrant: Object.assign(qdrant, { port: qdrantPort }),
      service: Object.assign(service, { port: grpcPort }),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
