import { join } from "node:path";
import type { Logger } from "pino";
import { sql, type DatabasePool } from "slonik";
import { z } from "zod";
import type { Config } from "../config.js";
import { createEmbeddedPostgres, type EmbeddedPostgresOptions } from "../embedded/postgres.js";
import type { MetadataStore } from "../stores/metadata-store.js";
import { isSchemaCurrent, migrationsFingerprint, runMigrations } from "../stores/migrations.js";
import { createPostgresMetadataStore } from "../stores/postgres-metadata-store.js";
import { createPostgresPool } from "../stores/postgres-pool.js";
import { retryStartup } from "./retry-startup.js";

export interface PostgresBackend {
  url: string;
  metadata: MetadataStore;
  /** The pool behind `metadata` (for tools such as reembed that need one more statement). */
  pool: DatabasePool;
  close(): Promise<void>;
}

/**
 * The embedded Postgres's prepared cluster with the service's migrations run, named by their hash: a
 * copy of it needs no migration (and no node-pg-migrate) at start.
 */
export async function migratedTemplate(
  logger: Logger,
): Promise<NonNullable<EmbeddedPostgresOptions["prepareTemplate"]>> {
  return {
    key: `migrated-${await migrationsFingerprint()}`,
    run: async (url) => {
      await runMigrations({ databaseUrl: url, logger });
    },
  };
}

/** The configured Postgres, or PGlite behind a socket when none is configured; migrated, pooled. */
export async function openPostgres(options: {
  config: Config;
  dataDir: string;
  logger: Logger;
}): Promise<PostgresBackend> {
  const { config, dataDir, logger } = options;
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const closer of closers.reverse()) {
      await closer();
    }
  };
  try {
    let url = config.postgres.url;
    let poolSize = config.postgres.maximumPoolSize;
    if (url === undefined) {
      const embedded = createEmbeddedPostgres({
        dataDir: join(dataDir, "postgres"),
        // PGlite checks no password: a Unix socket in the private DATA_DIR keeps other local users out.
        socketDir: join(dataDir, "run"),
        // A new data directory starts as a copy of the prepared cluster, migrated: ~0.3 s, not initdb's 10+.
        cacheDir: config.cacheDir,
        prepareTemplate: await migratedTemplate(logger),
        // PGlite's stock 128MB pool, zeroed at start, was most of an idle service's memory. The store
        // holds catalog text and metadata (a few MB per thousand chunks; vectors live in Qdrant), and a
        // miss is a read from the host's page cache.
        sharedBuffers: "16MB",
        logger: logger.child({ component: "embedded-postgres" }),
      });
      url = (await embedded.start()).url;
      closers.push(() => embedded.stop());
      // PGlite runs one query at a time on one backend: a larger pool would only queue.
      poolSize = 1;
      logger.warn("metadata store: EMBEDDED PGlite (set DATABASE_URL or POSTGRES_HOST for a real Postgres)");
    } else {
      const parsed = new URL(url);
      logger.info(
        { host: parsed.hostname, port: parsed.port || "5432", database: parsed.pathname.slice(1) },
        "metadata store: Postgres",
      );
    }
    const databaseUrl = url;
    const open = (maximumPoolSize: number) =>
      retryStartup("Postgres", logger, () => createPostgresPool({ url: databaseUrl, maximumPoolSize, logger }));
    const pool = await openPool(poolSize, open, logger);
    closers.push(() => pool.end());
    // node-pg-migrate is loaded only when the schema needs it (a copied template, a restart: it does not).
    if (await isSchemaCurrent(pool).catch(() => false)) {
      logger.info("database schema is up to date");
    } else {
      await retryStartup("Postgres", logger, () => runMigrations({ databaseUrl, logger }));
    }
    return { url: databaseUrl, metadata: createPostgresMetadataStore({ pool, logger }), pool, close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}

/**
 * A pool of `size`, or of one connection on a PGlite server: every connection to it is the same
 * session, so a write's locks would not keep the repairer (or another write) on a second connection
 * out: it could judge a write in progress abandoned and undo it. One connection serializes them, as
 * the embedded store does.
 */
async function openPool(
  size: number,
  open: (maximumPoolSize: number) => Promise<DatabasePool>,
  logger: Logger,
): Promise<DatabasePool> {
  const pool = await open(size);
  if (size === 1 || !(await runsOneSession(pool))) return pool;
  logger.warn(
    { maximumPoolSize: size },
    "DATABASE_URL is a PGlite server, which runs every connection in one session: using one connection (POSTGRES_POOL_SIZE ignored)",
  );
  await pool.end();
  return open(1);
}

/** Whether the server is PGlite: one backend, so every connection shares one session and its locks. */
async function runsOneSession(pool: DatabasePool): Promise<boolean> {
  const version = await pool.oneFirst(sql.type(z.object({ version: z.string() }))`SELECT version() AS version`);
  return version.includes("(PGlite ");
}
