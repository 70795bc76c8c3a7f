import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join, parse } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import pg from "pg";
import { sql, type DatabasePool } from "slonik";
import { z } from "zod";
import { InternalError, UnavailableError } from "../core/errors.js";
import { cannotConnect, classifyPostgresError, describeTarget } from "./postgres-pool.js";

/** The table node-pg-migrate records applied migrations in (in `public`, its default schema). */
export const MIGRATIONS_TABLE = "pgmigrations";

export interface RunMigrationsOptions {
  databaseUrl: string;
  logger: Logger;
  /** `up` (default) applies every pending migration; `down` reverts the last one (or `count`). */
  direction?: "up" | "down";
  /** How many migrations to run; default all pending for `up`, 1 for `down`. */
  count?: number;
  /** The folder of `.sql` migrations; default the repository's `migrations/`. */
  migrationsDir?: string;
  /** The table that records which of them ran; default `pgmigrations`. A separate sequence needs its own. */
  migrationsTable?: string;
}

/**
 * Applies the plain-SQL migrations in `migrations/` with node-pg-migrate, in one transaction, under its
 * advisory lock (so replicas starting together do not race). Resolves to the names of the migrations
 * run. Failures are domain errors: `UnavailableError("postgres", …)` when the server cannot be reached,
 * `InternalError` (with the driver's error as cause) when a migration fails.
 */
export async function runMigrations(options: RunMigrationsOptions): Promise<string[]> {
  const { databaseUrl, logger } = options;
  const direction = options.direction ?? "up";
  // Our own client, so a failure is told apart by when it happened, not by its message: connecting,
  // losing the connection mid-run (pg's errors for both carry no SQLSTATE), or a statement failing.
  const client = new pg.Client({ connectionString: databaseUrl });
  let connectionLost = false;
  client.on("error", () => {
    connectionLost = true;
  });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw cannotConnect(describeTarget(databaseUrl), error);
  }
  client.on("end", () => {
    connectionLost = true;
  });
  try {
    // Loaded when there is work: ~0.5 s and ~20 MB that a start on a current schema does without.
    const { runner } = await import("node-pg-migrate");
    const applied = await runner({
      dbClient: client,
      dir: options.migrationsDir ?? repositoryMigrationsDir(),
      direction,
      count: options.count ?? (direction === "up" ? Infinity : 1),
      migrationsTable: options.migrationsTable ?? MIGRATIONS_TABLE,
      checkOrder: true,
      singleTransaction: true,
      // node-pg-migrate prints every statement at info level: keep SQL out of our info log.
      logger: {
        debug: (message) => logger.trace(message),
        info: (message) => logger.debug(message),
        warn: (message) => logger.warn(message),
        error: (message) => logger.error(message),
      },
    });
    const names = applied.map((migration) => migration.name);
    logger.info(
      { direction, migrations: names },
      names.length === 0 ? "database schema is up to date" : `ran ${names.length} migration(s) ${direction}`,
    );
    return names;
  } catch (error) {
    const classified = classifyPostgresError(error);
    if (connectionLost || classified.kind === "unavailable") {
      const reason = classified.kind === "unavailable" ? classified.reason : "the connection was lost";
      throw new UnavailableError("postgres", `migrating ${direction} failed: ${reason}; retry later`, {
        cause: error,
      });
    }
    // The driver's message names the failing statement's problem; it stays in the cause, for the log.
    throw new InternalError(
      `migrating ${direction} failed: see the cause in the log; the transaction was rolled back`,
      { cause: error },
    );
  } finally {
    client.removeAllListeners("end");
    await client.end().catch(() => undefined);
  }
}

/**
 * `migrations/` at the repository root (or its `subfolder`), from `src/stores/` (tsx) or
 * `dist/src/stores/` (built).
 */
export function repositoryMigrationsDir(subfolder?: string): string {
  const folder = subfolder === undefined ? "migrations" : `migrations/${subfolder}`;
  const candidates = [`../../${folder}`, `../../../${folder}`].map((relative) =>
    fileURLToPath(new URL(relative, import.meta.url)),
  );
  return candidates.find((candidate) => existsSync(candidate)) ?? candidates[0];
}

/**
 * The migration files in `dir` by the names node-pg-migrate records (file name without extension), in
 * its order: files only, dot files aside, sorted. Our names start with a fixed-width timestamp, so the
 * plain sort is the numeric one node-pg-migrate uses.
 */
async function migrationFiles(dir: string): Promise<Array<{ name: string; file: string }>> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && !entry.name.startsWith("."))
    .map((entry) => ({ name: parse(entry.name).name, file: entry.name }))
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

/** A short hash of the migrations' names and contents: it changes whenever the schema they build does. */
export async function migrationsFingerprint(dir: string = repositoryMigrationsDir()): Promise<string> {
  const hash = createHash("sha256");
  for (const { file } of await migrationFiles(dir)) {
    hash
      .update(file)
      .update("\0")
      .update(await readFile(join(dir, file)))
      .update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

/**
 * Whether node-pg-migrate would find nothing to run: its table lists every migration of `dir`, in the
 * same order, as the first ones run (a newer release's later migrations may follow, which it would
 * leave alone too). Two small queries where loading and running node-pg-migrate takes ~0.5 s; any
 * other answer leaves the decision to `runMigrations`.
 */
export async function isSchemaCurrent(pool: DatabasePool, dir: string = repositoryMigrationsDir()): Promise<boolean> {
  const table = sql.identifier(["public", MIGRATIONS_TABLE]);
  const present = await pool.oneFirst(
    sql.type(
      z.object({ present: z.boolean() }),
    )`SELECT to_regclass(${`public.${MIGRATIONS_TABLE}`}) IS NOT NULL AS present`,
  );
  if (!present) return false;
  const recorded = await pool.anyFirst(
    sql.type(z.object({ name: z.string() }))`SELECT name FROM ${table} ORDER BY run_on, id`,
  );
  const files = await migrationFiles(dir);
  return files.length <= recorded.length && files.every(({ name }, index) => recorded[index] === name);
}
