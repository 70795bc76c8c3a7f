import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Embedder } from "../../src/embedders/embedder.js";
import { createLocalEmbedder } from "../../src/embedders/local-embedder.js";
import {
  Health,
  type HealthCheckRequest,
  HealthCheckRequestSchema,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../../gen/grpc/health/v1/health_pb.js";
import { startTestApp } from "../helpers/start-test-app.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** A local embedder that holds every call until released, and says when a call has arrived. */
function createGatedEmbedder(): { embedder: Embedder; entered: Promise<void>; release(): void } {
  const inner = createLocalEmbedder({ dimensions: 3072 });
  let release!: () => void;
  let enter!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const entered = new Promise<void>((resolve) => (enter = resolve));
  const embedder: Embedder = {
    name: inner.name,
    model: inner.model,
    dimensions: inner.dimensions,
    relevanceFloor: inner.relevanceFloor,
    countTokens: (text) => inner.countTokens(text),
    async embed(inputs, options) {
      enter();
      await gate;
      return inner.embed(inputs, options);
    },
  };
  return { embedder, entered, release };
}

describe("lifecycle", () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database?.drop();
  });

  it("stop() drains an in-flight call, which completes and is durable, then refuses new calls", async () => {
    const gated = createGatedEmbedder();
    const app = await startTestApp({ database, overrides: { embedder: gated.embedder } });
    const id = randomUUID();
    const catalogId = randomUUID();
    const inFlight = app.embeddings.upsertEmbedding({
      embedding: { id, catalogId, kind: "table", content: "Table: drained" },
    });
    await gated.entered;
    const stopped = app.stop();
    gated.release();
    const response = await inFlight;
    expect(response.embedding?.id).toBe(id);
    await stopped;
    const error = await app.retrieval
      .searchEmbeddings({ catalogId: randomUUID(), query: { case: "text", value: "x" } })
      .then(
        () => undefined,
        (caught: unknown) => ConnectError.from(caught),
      );
    expect(error?.code).toBe(Code.Unavailable);
    // The drained write reached Postgres (checked with a fresh app on the same database).
    const again = await startTestApp({ database });
    try {
      expect((await again.embeddings.getEmbedding({ id, catalogId })).embedding?.content).toBe("Table: drained");
    } finally {
      await again.stop();
    }
  });

  it("health turns NOT_SERVING for open Watch streams when stop() begins", async () => {
    const gated = createGatedEmbedder();
    const app = await startTestApp({ database, overrides: { embedder: gated.embedder } });
    const client = new grpc.Client(`127.0.0.1:${app.running.grpcPort}`, grpc.credentials.createInsecure());
    const statuses: HealthCheckResponse_ServingStatus[] = [];
    let firstMessage!: () => void;
    const serving = new Promise<void>((resolve) => (firstMessage = resolve));
    const call = client.makeServerStreamRequest(
      `/${Health.typeName}/Watch`,
      (message: HealthCheckRequest) => Buffer.from(toBinary(HealthCheckRequestSchema, message)),
      (bytes: Buffer) => fromBinary(HealthCheckResponseSchema, bytes),
      create(HealthCheckRequestSchema, { service: "dq.embeddings.v1.EmbeddingService" }),
    );
    call.on("data", (response: HealthCheckResponse) => {
      statuses.push(response.status);
      firstMessage();
    });
    const ended = new Promise<void>((resolve) => call.on("status", () => resolve()));
    call.on("error", () => undefined);
    await serving;
    const inFlight = app.embeddings.upsertEmbedding({
      embedding: { id: randomUUID(), catalogId: randomUUID(), kind: "table", content: "Table: x" },
    });
    await gated.entered;
    const stopped = app.stop();
    gated.release();
    await inFlight;
    await stopped;
    await ended;
    client.close();
    expect(statuses).toEqual([
      HealthCheckResponse_ServingStatus.SERVING,
      HealthCheckResponse_ServingStatus.NOT_SERVING,
    ]);
  });

  it("the real process exits 0 on SIGTERM after logging that it stopped", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: database.url,
        GRPC_HOST: "127.0.0.1",
        GRPC_PORT: "0",
        METRICS_PORT: "0",
        QDRANT_PORT: "0",
        LOG_LEVEL: "info",
        QDRANT_HOST: "",
        API_KEYS: "caller-key-7c1e9f",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const listening = new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes("gRPC server listening")) {
          resolve();
        }
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.once("exit", (code) => reject(new Error(`exited ${code} before listening:\n${output}`)));
    });
    await listening;
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(output).toContain('"msg":"stopped"');
    // The log says which backends are embedded, and never prints secrets.
    expect(output).toMatch(/vector store: EMBEDDED/);
    expect(output).toMatch(/metadata store: Postgres/);
    expect(output).not.toContain(database.url);
    expect(output).not.toContain("caller-key-7c1e9f");
  });

  it("a bad variable stops start-up with one line naming it and a non-zero exit", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: ROOT,
      env: { ...process.env, GRPC_PORT: "fifty" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(2);
    // One JSON log line, like every other line the service writes.
    const lines = stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({
      level: 60,
      variable: "GRPC_PORT",
      msg: 'invalid configuration: GRPC_PORT must be a whole number, got "fifty"',
    });
  });
});
