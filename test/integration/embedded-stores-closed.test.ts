// The embedded stores the service starts on its own are closed to other local processes: Postgres on
// a Unix socket inside a private DATA_DIR (PGlite checks no password), Qdrant behind a key generated
// for the run, and nothing under DATA_DIR readable or writable by group or other.
import { randomUUID } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { QdrantClient } from "@qdrant/js-client-grpc";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingService } from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { createApp, type App, type RunningApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";

async function modes(dir: string): Promise<Array<{ path: string; mode: number }>> {
  const found: Array<{ path: string; mode: number }> = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    found.push({ path, mode: (await stat(path)).mode & 0o777 });
    if (entry.isDirectory()) found.push(...(await modes(path)));
  }
  return found;
}

describe("embedded stores closed", () => {
  let parent: string;
  let dataDir: string;
  let app: App;
  let running: RunningApp;

  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), "dq-closed-"));
    dataDir = join(parent, "data");
    // A DATA_DIR left world-writable by an earlier run is tightened at start.
    await mkdir(dataDir, { mode: 0o777 });
    await chmod(dataDir, 0o777);
    await writeFile(join(dataDir, "left-over"), "x", { mode: 0o666 });
    await chmod(join(dataDir, "left-over"), 0o666);
    app = createApp(
      loadConfig({
        DATA_DIR: dataDir,
        GRPC_HOST: "127.0.0.1",
        GRPC_PORT: "0",
        METRICS_PORT: "0",
        EMBEDDING_DIMENSIONS: "32",
        LOG_LEVEL: "silent",
      }),
      { logger: pino({ level: "silent" }) },
    );
    running = await app.start();
  }, 120_000);

  afterAll(async () => {
    await app?.stop();
    await rm(parent, { recursive: true, force: true });
  });

  it("works end to end through the closed stores", async () => {
    const embeddings = createClient(
      EmbeddingService,
      createGrpcTransport({ baseUrl: `http://127.0.0.1:${running.grpcPort}` }),
    );
    const catalogId = randomUUID();
    await embeddings.upsertEmbedding({
      embedding: { id: randomUUID(), catalogId, kind: "document", content: "closed but working" },
    });
    expect(await running.metadata.countRows({ catalogId })).toBe(1);
  });

  it("serves Postgres on a Unix socket inside DATA_DIR, not on TCP", () => {
    const url = new URL(running.postgresUrl);
    expect(decodeURIComponent(url.hostname)).toBe(join(dataDir, "run"));
  });

  it("refuses a Qdrant client without the generated key", async () => {
    const stranger = new QdrantClient({
      host: running.qdrant.host,
      port: running.qdrant.port,
      compression: false,
      checkCompatibility: false,
    });
    await expect(stranger.api("collections").list({})).rejects.toThrow(/API key|unauthenticated/i);
  });

  it("keeps DATA_DIR 0700 and, once stopped, nothing below it open to group or other", async () => {
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    await app.stop();
    const entries = await modes(dataDir);
    expect(entries.length).toBeGreaterThan(10);
    expect(entries.filter((entry) => (entry.mode & 0o077) !== 0)).toEqual([]);
  });
});
