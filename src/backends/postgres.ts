import { join } from "node:path";
import type { Logger } from "pino";
import type { DatabasePool } from "slonik";
import type { Config } from "../config.js";
import { createEmbeddedPostgres } from "../embedded/postgres.js";
import type { MetadataStore } from "../stores/metadata-store.js";
import { runMigrations } from "../stores/migrations.js";
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
    await retryStartup("Postgres", logger, () => runMigrations({ databaseUrl, logger }));
    const pool = await createPostgresPool({ url: databaseUrl, maximumPoolSize: poolSize, logger });
    closers.push(() => pool.end());
    return { url: databaseUrl, metadata: createPostgresMetadataStore({ pool, logger }), pool, close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}
