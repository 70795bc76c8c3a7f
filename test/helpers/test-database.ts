/**
 * Databases for integration tests. `test/helpers/global-setup.ts` decides once per run where they live:
 *
 * - a real Postgres server (DATABASE_URL, else postgres://dq:dq@127.0.0.1:5432/postgres): a template
 *   database is migrated once, and each `createTestDatabase()` copies it into `dq_test_<random>`;
 * - embedded PGlite when no server answers (unless REQUIRE_POSTGRES=1, which makes that an error):
 *   each `createTestDatabase()` starts its own migrated PGlite behind a socket, in a temporary data
 *   directory copied from the prepared cluster global setup keeps in the cache (no initdb per file).
 *
 * Either way the caller gets a URL, the kind, the pool size to use, and `drop()` for `afterAll`.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { pino } from "pino";
import { inject } from "vitest";
import { migratedTemplate } from "../../src/backends/postgres.js";
import { createEmbeddedPostgres, EMBEDDED_POSTGRES_POOL_SIZE } from "../../src/embedded/postgres.js";
import { normalizePostgresUrl } from "../../src/postgres-url.js";

export const DEFAULT_TEST_DATABASE_URL = "postgres://dq:dq@127.0.0.1:5432/postgres";

export type TestDatabaseKind = "postgres" | "pglite";

/** What global setup found, handed to test files through vitest's provide/inject. */
export type TestDatabaseTarget = { kind: "postgres"; adminUrl: string; template: string } | { kind: "pglite" };

declare module "vitest" {
  export interface ProvidedContext {
    dqTestDatabase: TestDatabaseTarget;
    /** The cache directory holding the prepared PGlite clusters (see global-setup.ts). */
    dqPgliteCache: string;
  }
}

export interface TestDatabase {
  url: string;
  kind: TestDatabaseKind;
  /** 1 for PGlite (one backend), more for a real server. */
  maximumPoolSize: number;
  /** Drops the database (or stops the embedded server). Safe to call twice. */
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** false: an empty database, for migration tests. Default true. */
  migrated?: boolean;
}

const silentLogger = pino({ level: "silent" });

/** Where this run's databases live, as global setup decided. */
export function testDatabaseTarget(): TestDatabaseTarget {
  return inject("dqTestDatabase");
}

/** A database of its own for one test file: a copy of the migrated template, or an embedded PGlite. */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const target = testDatabaseTarget();
  if (target.kind === "pglite") {
    return createPgliteTestDatabase(options);
  }
  return createPostgresTestDatabase(target.adminUrl, (options.migrated ?? true) ? target.template : "template0");
}

/**
 * A fresh embedded PGlite behind a socket, migrated unless `migrated: false`: a copy of the prepared
 * cluster (migrated or plain) in a temporary data directory, removed by `drop()`.
 */
export async function createPgliteTestDatabase(
  options: TestDatabaseOptions & { vector?: boolean } = {},
): Promise<TestDatabase> {
  const dataDir = await mkdtemp(join(tmpdir(), "dq-test-pglite-"));
  const embedded = createEmbeddedPostgres({
    dataDir,
    cacheDir: inject("dqPgliteCache"),
    prepareTemplate: (options.migrated ?? true) ? await migratedTemplate(silentLogger) : undefined,
    sharedBuffers: "16MB",
    logger: silentLogger,
    extensions: { vector: options.vector ?? false },
  });
  const drop = async () => {
    await embedded.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  let url: string;
  try {
    ({ url } = await embedded.start());
  } catch (error) {
    await drop();
    throw error;
  }
  return { url, kind: "pglite", maximumPoolSize: EMBEDDED_POSTGRES_POOL_SIZE, drop };
}

async function createPostgresTestDatabase(adminUrl: string, template: string): Promise<TestDatabase> {
  const name = randomDatabaseName("dq_test");
  await createDatabase(adminUrl, name, template);
  let dropped = false;
  return {
    url: databaseUrl(adminUrl, name),
    kind: "postgres",
    maximumPoolSize: 4,
    async drop() {
      if (!dropped) {
        dropped = true;
        await dropDatabase(adminUrl, name);
      }
    },
  };
}

export function randomDatabaseName(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString("hex")}`;
}

/** The same server and credentials as `adminUrl`, another database. */
export function databaseUrl(adminUrl: string, database: string): string {
  // Unix-socket URLs (postgres://user@/db?host=/var/run/postgresql) too.
  const url = new URL(normalizePostgresUrl(adminUrl));
  url.pathname = `/${database}`;
  return url.toString();
}

/** Resolves when the server answers `SELECT 1`; rejects with the driver's error otherwise. */
export async function probePostgres(url: string): Promise<void> {
  await withClient(url, async (client) => {
    await client.query("SELECT 1");
  });
}

/** CREATE DATABASE from a template, retried while another copy of the same template is in progress. */
export async function createDatabase(adminUrl: string, name: string, template: string): Promise<void> {
  await withClient(adminUrl, async (client) => {
    const statement = `CREATE DATABASE ${client.escapeIdentifier(name)} TEMPLATE ${client.escapeIdentifier(template)}`;
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(statement);
        return;
      } catch (error) {
        // 55006: "source database is being accessed by other users" (a concurrent copy).
        if ((error as { code?: string }).code !== "55006" || attempt >= 20) {
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  });
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  // A session of another role (a superuser's, or one that just disconnected) can still be in the
  // database; FORCE may not end it. Try a few times, then say which database was left behind.
  for (let attempt = 1; ; attempt++) {
    try {
      await withClient(adminUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
      });
      return;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (attempt >= 10 || (code !== "42501" && code !== "55006")) {
        throw new Error(`could not drop test database ${name}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The database .ci/run makes once pgvector is built: it holds the vector extension (owned by a superuser). */
export const PGVECTOR_TEMPLATE = "dq_pgvector_template";

/**
 * Whether the real server at `adminUrl` has pgvector ready to copy (the `dq_pgvector_template`
 * database with the extension). False when the server or the database is missing: tests that need
 * it are then skipped, visibly.
 */
export async function hasPgvectorTemplate(adminUrl: string): Promise<boolean> {
  try {
    return await withClient(databaseUrl(adminUrl, PGVECTOR_TEMPLATE), async (client) => {
      const result = await client.query("SELECT 1 FROM pg_extension WHERE extname = 'vector'");
      return result.rowCount === 1;
    });
  } catch {
    return false;
  }
}
