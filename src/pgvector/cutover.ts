import type { Logger } from "pino";
import { sql, type DatabasePool } from "slonik";
import { z } from "zod";
import { FailedPreconditionError, InternalError, InvalidArgumentError } from "../core/errors.js";
import type { VectorStore } from "../stores/vector-store.js";
import { repositoryMigrationsDir, runMigrations } from "../stores/migrations.js";
import { readState } from "./migration-state.js";
import { silentProgress, type ProgressReporter } from "./progress.js";
import { readPrivileges, requireCutoverPrivileges, requireRollbackPrivileges } from "./privileges.js";
import {
  columnIdentifier,
  columnIndexes,
  DEFAULT_COLUMN,
  DEFAULT_TABLE,
  inspectSourceTable,
  NO_ROWS,
  query,
  tableIdentifier,
} from "./source-table.js";
import { formatPgvector } from "./vector-codec.js";

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

export interface RollbackDeps extends CutoverDeps {
  vectors: VectorStore;
  progress?: ProgressReporter;
}

export interface RollbackReport {
  table: string;
  column: string;
  columnType: string;
  /** The column had been dropped and was re-created (with the extension if needed). */
  recreatedColumn: boolean;
  /** Indexes re-created from the definitions recorded at cutover (expression and partial ones too). */
  recreatedIndexes: string[];
  /** Indexes on the column after the rollback. */
  indexes: string[];
  /** Vectors copied from Qdrant into the column. */
  restored: number;
  /** Rows whose source vector was null or of another dimension (re-embedded or skipped): left NULL. */
  restoredNull: number;
  restoredNullIds: string[];
  /** Rows with a qdrant_point_id whose point Qdrant no longer has: their column stays null. */
  missingPoints: number;
  missingPointIds: string[];
}

const restoreRowSchema = z.object({ id: z.string(), origin: z.string().nullable(), hasValue: z.boolean() });

/**
 * Undoes the migration without a backup: re-creates the pgvector column (the cutover migration's down
 * step, with the recorded type, after checking the role may), then copies every point's vector from
 * Qdrant back into its row, except where the source had none (null or of another dimension, re-embedded
 * or skipped: those get NULL again), clears `qdrant_point_id` (the old application does not maintain
 * it), forgets the migration's side table, and re-creates every index that used the column, built once
 * over the restored data. Points stay in Qdrant. Resumable: rows already handled have neither a point
 * id nor a side-table row left.
 */
export async function rollbackPgvector(
  deps: RollbackDeps,
  options: { table?: string; column?: string; batchSize?: number; listLimit?: number } = {},
): Promise<RollbackReport> {
  const { pool, databaseUrl, logger, vectors } = deps;
  const progress = deps.progress ?? silentProgress;
  const table = requireServiceTable(options.table, "--rollback");
  const column = options.column ?? DEFAULT_COLUMN;
  const batchSize = options.batchSize ?? 256;
  const listLimit = options.listLimit ?? 1_000;

  requireRollbackPrivileges(await readPrivileges(pool, table), table);
  let source = await inspectSourceTable(pool, table, column);
  let recreatedColumn = false;
  if (source.vector === undefined) {
    const reverted = await runCutoverMigrations(databaseUrl, logger, "down");
    if (reverted.length === 0) {
      throw new FailedPreconditionError(
        `${table} has no column ${column} and no cutover is recorded: nothing to roll back to`,
      );
    }
    recreatedColumn = true;
    source = await inspectSourceTable(pool, table, column);
  }
  const vector = source.vector;
  if (vector === undefined) {
    throw new InternalError(`the rollback migration ran but ${table}.${column} is still missing`);
  }
  // The text form is pgvector's input; the cast names the column's own type, so halfvec rounds here.
  const castType = sql.identifier([vector.kind]);
  const target = tableIdentifier(source);
  const touched = sql.fragment`(${target}.qdrant_point_id IS NOT NULL OR moved.id IS NOT NULL)`;
  const joinMoved = sql.fragment`LEFT JOIN dq_pgvector_moved moved ON moved.source_table = ${table} AND moved.id = ${target}.id`;

  const total = await query("counting rows to restore", () =>
    pool.oneFirst(sql.type(z.object({ count: z.number() }))`
      SELECT count(*)::int AS count FROM ${target} ${joinMoved} WHERE ${touched}
    `),
  );
  let restored = 0;
  let restoredNull = 0;
  const restoredNullIds: string[] = [];
  let missingPoints = 0;
  const missingPointIds: string[] = [];
  progress.start(`restoring ${table}.${column}`, total);
  try {
    for (let afterId: string | undefined; ;) {
      const after = afterId === undefined ? sql.fragment`TRUE` : sql.fragment`${target}.id > ${afterId}::uuid`;
      const rows = await query("reading rows to restore", () =>
        pool.any(sql.type(restoreRowSchema)`
          SELECT ${target}.id, moved.origin, ${columnIdentifier(source)} IS NOT NULL AS "hasValue"
          FROM ${target} ${joinMoved}
          WHERE ${touched} AND ${after}
          ORDER BY ${target}.id
          LIMIT ${batchSize}
        `),
      );
      if (rows.length === 0) {
        break;
      }
      afterId = rows[rows.length - 1].id;
      // The source had no usable vector: NULL again (before cutover the column still holds what it held).
      const noSource = rows.filter((row) => row.origin === "reembedded" || row.origin === "skipped");
      restoredNull += noSource.length;
      restoredNullIds.push(...noSource.slice(0, Math.max(0, listLimit - restoredNullIds.length)).map((row) => row.id));
      // Rows that still hold their value (a rollback before cutover) keep it.
      const wanted = rows
        .filter((row) => !row.hasValue && row.origin !== "reembedded" && row.origin !== "skipped")
        .map((row) => row.id);
      const points = wanted.length === 0 ? [] : await vectors.get(wanted, { withVector: true });
      const found = points.filter((point) => point.vector !== undefined);
      const foundIds = new Set(found.map((point) => point.id.toLowerCase()));
      const lost = wanted.filter((id) => !foundIds.has(id.toLowerCase()));
      missingPoints += lost.length;
      missingPointIds.push(...lost.slice(0, Math.max(0, listLimit - missingPointIds.length)));
      const ids = rows.map((row) => row.id);
      await pool.transaction(async (tx) => {
        if (found.length > 0) {
          await query("writing vectors back", () =>
            tx.query(sql.type(NO_ROWS)`
              UPDATE ${target} AS target
              SET ${columnIdentifier(source)} = restored.value::${castType}
              FROM unnest(
                ${sql.array(
                  found.map((point) => point.id),
                  "uuid",
                )},
                ${sql.array(
                  found.map((point) => formatPgvector(point.vector as Float32Array)),
                  "text",
                )}
              ) AS restored (id, value)
              WHERE target.id = restored.id
            `),
          );
        }
        await query("clearing point ids", () =>
          tx.query(sql.type(NO_ROWS)`
            UPDATE ${target} SET qdrant_point_id = NULL WHERE id = ANY(${sql.array(ids, "uuid")}) AND qdrant_point_id IS NOT NULL
          `),
        );
        await query("forgetting migrated rows", () =>
          tx.query(sql.type(NO_ROWS)`
            DELETE FROM dq_pgvector_moved WHERE source_table = ${table} AND id = ANY(${sql.array(ids, "uuid")})
          `),
        );
      });
      restored += found.length;
      progress.update(
        restored + restoredNull + missingPoints + (rows.length - found.length - noSource.length - lost.length),
      );
    }
  } finally {
    progress.stop();
  }
  // Every index that used the column, as recorded at cutover, built once over the restored data.
  const definitions = await query("reading the recorded indexes", () =>
    pool.maybeOneFirst(sql.type(z.object({ definitions: z.array(z.string()).nullable() }))`
      SELECT index_definitions AS definitions FROM dq_pgvector_migration WHERE source_table = ${table}
    `),
  );
  const before = new Set((await columnIndexes(pool, table, column)).map((index) => index.name));
  await query("re-creating the column's indexes", () =>
    pool.query(sql.type(NO_ROWS)`
      DO $$
      DECLARE
        definition text;
      BEGIN
        FOR definition IN
          SELECT unnest(index_definitions) FROM dq_pgvector_migration WHERE source_table = 'dq_embeddings'
        LOOP
          BEGIN
            EXECUTE definition;
          EXCEPTION WHEN duplicate_table THEN
            NULL; -- already there (a resumed rollback, or a rollback before cutover)
          END;
        END LOOP;
      END
      $$
    `),
  );
  const indexes = (await columnIndexes(pool, table, column)).map((index) => index.name);
  const recreatedIndexes = indexes.filter((name) => !before.has(name));
  if ((definitions?.length ?? 0) > indexes.length) {
    logger.warn({ recorded: definitions, indexes }, "fewer indexes use the column than were recorded at cutover");
  }
  await query("recording the rollback", () =>
    pool.query(sql.type(NO_ROWS)`
      UPDATE dq_pgvector_migration
      SET rolled_back_at = now(), cutover_at = NULL, verify_passed = NULL,
          pass_started_at = NULL, last_id = NULL, pass_completed_at = NULL, rows_migrated = 0, updated_at = now()
      WHERE source_table = ${table}
    `),
  );
  const report: RollbackReport = {
    table,
    column,
    columnType: vector.columnType,
    recreatedColumn,
    recreatedIndexes,
    indexes,
    restored,
    restoredNull,
    restoredNullIds,
    missingPoints,
    missingPointIds,
  };
  logger.info(
    { ...report, missingPointIds: undefined, restoredNullIds: undefined },
    "rollback done: vectors are back in the pgvector column",
  );
  if (missingPoints > 0) {
    logger.warn(
      { missingPoints, ids: missingPointIds },
      "rows whose point was gone from Qdrant have no vector: re-index them",
    );
  }
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

function requireServiceTable(table: string | undefined, flag: string): string {
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
async function runCutoverMigrations(databaseUrl: string, logger: Logger, direction: "up" | "down"): Promise<string[]> {
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
