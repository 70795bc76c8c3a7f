import type { Logger } from "pino";
import { sql, type DatabasePool } from "slonik";
import { z } from "zod";
import { FailedPreconditionError, InternalError, InvalidArgumentError } from "../core/errors.js";
import { repositoryMigrationsDir, runMigrations } from "../stores/migrations.js";
import { readState } from "./migration-state.js";
import { readPrivileges, requireCutoverPrivileges } from "./privileges.js";
import { columnIndexes, DEFAULT_COLUMN, DEFAULT_TABLE, inspectSourceTable, query } from "./source-table.js";

/**
 * The cutover's own node-pg-migrate sequence (`migrations/pgvector-cutover/`, recorded in this table):
 * never run at start-up, only by `--cutover` / `--rollback`.
 */
export const CUTOVER_MIGRATIONS_TABLE = "pgmigrations_pgvector_cutover";

export interface CutoverDeps {
  pool: DatabasePool;
  /** node-pg-migrate opens its own connection. */
  databaseUrl: string;
  logger: Logger;
}

export interface CutoverReport {
  table: string;
  column: string;
  droppedColumnType: string | null;
  /** Indexes dropped with the column (their definitions are recorded for --rollback). */
  droppedIndexes: string[];
  /** Rows whose qdrant_point_id was written, in one statement, after the column was gone. */
  pointIdsWritten: number;
  extensionDropped: boolean;
  /** Why the extension stayed, when it did (another role owns it, or other objects use it). */
  extensionKept: string | null;
  role: string;
}

const extensionSchema = z.object({ present: z.boolean() });

/**
 * Drops the pgvector column (and the extension when nothing else uses it) through the cutover
 * migration. Refuses unless the last verification passed and nothing changed since; the migration
 * checks that again inside its own transaction, under a table lock.
 */
export async function cutoverPgvector(
  deps: CutoverDeps,
  options: { table?: string; column?: string } = {},
): Promise<CutoverReport> {
  const { pool, databaseUrl, logger } = deps;
  const table = requireServiceTable(options.table, "--cutover");
  const column = options.column ?? DEFAULT_COLUMN;
  const source = await inspectSourceTable(pool, table, column);
  if (source.vector === undefined) {
    throw new FailedPreconditionError(`${table} has no column ${column}: the cutover was already done`);
  }
  const privileges = await readPrivileges(pool, table);
  requireCutoverPrivileges(privileges, table);
  const state = await readState(pool, table);
  if (state?.verifyPassed !== true) {
    throw new FailedPreconditionError(
      state?.verifyPassed === false
        ? `the last verification of ${table} failed: fix what it reported, run --verify again, then --cutover`
        : `${table} has no passing verification since its last change: run --verify, then --cutover`,
    );
  }
  const droppedIndexes = (await columnIndexes(pool, table, column)).map((index) => index.name);
  const pending = await countPointIdsToWrite(pool);
  await runCutoverMigrations(databaseUrl, logger, "up");
  const extension = await query("checking the pgvector extension", () =>
    pool.one(sql.type(extensionSchema)`SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') AS present`),
  );
  const extensionKept = !extension.present
    ? null
    : privileges.ownsExtension
      ? "other objects in this database still use it"
      : `it belongs to ${privileges.extensionOwner ?? "another role"}, not ${privileges.role}: that role may DROP EXTENSION vector once nothing uses it`;
  const report: CutoverReport = {
    table,
    column,
    droppedColumnType: source.vector.columnType,
    droppedIndexes,
    pointIdsWritten: pending,
    extensionDropped: !extension.present,
    extensionKept,
    role: privileges.role,
  };
  logger.info(report, "cutover done: the pgvector column is dropped; vectors live in Qdrant");
  return report;
}

/** Rows the cutover will give a qdrant_point_id (recorded by the migration, not yet written). */
async function countPointIdsToWrite(pool: DatabasePool): Promise<number> {
  return query("counting point ids to write", () =>
    pool.oneFirst(sql.type(z.object({ count: z.number() }))`
      SELECT count(*)::int AS count
      FROM dq_pgvector_moved moved JOIN dq_embeddings t ON t.id = moved.id
      WHERE moved.source_table = 'dq_embeddings' AND moved.origin <> 'skipped' AND t.qdrant_point_id IS NULL
    `),
  );
}

export function requireServiceTable(table: string | undefined, flag: string): string {
  const name = table ?? DEFAULT_TABLE;
  if (name !== DEFAULT_TABLE) {
    throw new InvalidArgumentError(
      "--table",
      `${flag} applies to ${DEFAULT_TABLE}, the service's table (its migration names it), got "${name}"`,
    );
  }
  return name;
}

/** The cutover sequence up, or its last step down; a refusal is FAILED_PRECONDITION with its reason. */
export async function runCutoverMigrations(
  databaseUrl: string,
  logger: Logger,
  direction: "up" | "down",
): Promise<string[]> {
  try {
    return await runMigrations({
      databaseUrl,
      logger,
      direction,
      migrationsDir: repositoryMigrationsDir("pgvector-cutover"),
      migrationsTable: CUTOVER_MIGRATIONS_TABLE,
    });
  } catch (error) {
    if (!(error instanceof InternalError)) {
      throw error;
    }
    // The migration's own RAISE (no passing verification, unmigrated vectors) is the useful part.
    const cause = error.cause;
    const reason = cause instanceof Error ? cause.message.split("\n")[0] : String(cause);
    throw new FailedPreconditionError(
      `the cutover migration (${direction}) was refused or failed and was rolled back: ${reason}`,
      { cause },
    );
  }
}
