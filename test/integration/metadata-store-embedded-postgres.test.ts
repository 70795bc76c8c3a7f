import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino, type Logger } from "pino";
import { describe, expect, inject, it } from "vitest";
import { openPostgres } from "../../src/backends/postgres.js";
import { loadConfig } from "../../src/config.js";
import { createEmbeddedPostgres, EMBEDDED_POSTGRES_POOL_SIZE } from "../../src/embedded/postgres.js";
import { runMigrations } from "../../src/stores/migrations.js";
import { createPostgresMetadataStore } from "../../src/stores/postgres-metadata-store.js";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";
import { createPgliteTestDatabase } from "../helpers/test-database.js";

const logger = pino({ level: "silent" });

describe("embedded Postgres (PGlite behind a socket)", () => {
  it("serves the store over a URL, and stop() frees its port", async () => {
    const embedded = createEmbeddedPostgres({ logger });
    const { url } = await embedded.start();
    const port = Number(new URL(url).port);
    expect(port).toBeGreaterThan(0);
    await runMigrations({ databaseUrl: url, logger });
    const pool = await createPostgresPool({ url, maximumPoolSize: EMBEDDED_POSTGRES_POOL_SIZE, logger });
    const store = createPostgresMetadataStore({ pool, logger });
    await store.ping();

    // stop() while the pool still holds its connection: the server must close it, not wait for it.
    await embedded.stop();
    await embedded.stop();
    await expect(listenOn(port)).resolves.toBeUndefined();
    await pool.end();
  });

  it("as DATABASE_URL, gets one connection whatever POSTGRES_POOL_SIZE says: its connections share one session and its locks", async () => {
    const database = await createPgliteTestDatabase();
    const recorded = recordingLogger();
    const dataDir = await mkdtemp(join(tmpdir(), "dq-pglite-url-"));
    try {
      const config = loadConfig({ DATABASE_URL: database.url, POSTGRES_POOL_SIZE: "4" });
      const backend = await openPostgres({ config, dataDir, logger: recorded.logger });
      try {
        // With four connections, a write's advisory locks held on one would not stop the repairer's
        // try-lock on another (same session: the lock is re-entrant), and it would undo the write.
        expect(backend.pool.configuration.maximumPoolSize).toBe(1);
        expect(recorded.lines.map((line) => line.msg)).toContainEqual(expect.stringContaining("one session"));
        await backend.metadata.ping();
      } finally {
        await backend.close();
      }
    } finally {
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("keeps its data in dataDir across restarts; runs initdb there when the cache cannot be used", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "dq-embedded-pg-"));
    try {
      const id = randomUUID();
      const catalogId = randomUUID();
      // A cache directory below a regular file cannot be made: the start still succeeds, by initdb.
      const blocker = join(dataDir, "a-file");
      await writeFile(blocker, "");
      const unusableCache = join(blocker, "cache");
      const first = recordingLogger();
      await withStore(join(dataDir, "postgres"), first.logger, unusableCache, async (store) => {
        await store.upsertRows([
          {
            id,
            catalogId,
            kind: "table",
            content: "Table: kept",
            metadata: { persisted: true },
            schemaName: "public",
            tableName: "kept",
            status: "pending",
            contentHash: "h",
            model: "local",
            qdrantPointId: id,
          },
        ]);
      });
      expect(first.lines.find((line) => line.cluster !== undefined)?.cluster).toBe("initdb");
      expect(first.lines.map((line) => line.msg)).toContain(
        "could not use the prepared Postgres cluster in the cache directory; running initdb instead (slower)",
      );
      const second = recordingLogger();
      await withStore(join(dataDir, "postgres"), second.logger, unusableCache, async (store) => {
        const rows = await store.getRows([id]);
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({ catalogId, content: "Table: kept", metadata: { persisted: true } });
      });
      expect(second.lines.find((line) => line.cluster !== undefined)?.cluster).toBe("existing");
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("lets the process exit by itself after stop()", async () => {
    const module = new URL("../../src/embedded/postgres.ts", import.meta.url).href;
    const dataDir = await mkdtemp(join(tmpdir(), "dq-embedded-pg-exit-"));
    const options = { dataDir: join(dataDir, "postgres"), cacheDir: inject("dqPgliteCache") };
    const program = [
      `import pg from "pg";`,
      `import { pino } from "pino";`,
      `const { createEmbeddedPostgres } = await import(${JSON.stringify(module)});`,
      `const options = ${JSON.stringify(options)};`,
      `const embedded = createEmbeddedPostgres({ ...options, logger: pino({ level: "silent" }) });`,
      `const { url } = await embedded.start();`,
      `const client = new pg.Client({ connectionString: url });`,
      `client.on("error", () => {});`,
      `await client.connect();`,
      `await client.query("SELECT 1");`,
      `await embedded.stop();`,
      `console.log("stopped");`,
    ].join("\n");
    const repository = fileURLToPath(new URL("../..", import.meta.url));
    try {
      const { code, stdout } = await run(
        process.execPath,
        ["--import", "tsx", "--input-type=module", "--eval", program],
        repository,
      );
      expect(stdout).toContain("stopped");
      expect(code).toBe(0);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

/** A logger whose JSON lines the test reads back. */
function recordingLogger(): { logger: Logger; lines: Array<{ msg: string; cluster?: string }> } {
  const lines: Array<{ msg: string; cluster?: string }> = [];
  const logger = pino(
    { level: "debug" },
    { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string; cluster?: string }) },
  );
  return { logger, lines };
}

async function withStore(
  dataDir: string,
  storeLogger: Logger,
  cacheDir: string,
  fn: (store: ReturnType<typeof createPostgresMetadataStore>) => Promise<void>,
): Promise<void> {
  const embedded = createEmbeddedPostgres({ logger: storeLogger, dataDir, cacheDir });
  const { url } = await embedded.start();
  try {
    await runMigrations({ databaseUrl: url, logger });
    const pool = await createPostgresPool({ url, maximumPoolSize: EMBEDDED_POSTGRES_POOL_SIZE, logger });
    try {
      await fn(createPostgresMetadataStore({ pool, logger }));
    } finally {
      await pool.end();
    }
  } finally {
    await embedded.stop();
  }
}

async function listenOn(port: number): Promise<void> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", () => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Runs a child to its natural exit; kills it (and fails) if it is still alive after 60 s. */
function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const guard = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the process did not exit after stop(): ${stdout} ${stderr}`));
    }, 60_000);
    child.on("exit", (code) => {
      clearTimeout(guard);
      resolve({ code, stdout: stdout + stderr });
    });
  });
}
