import type { Logger } from "pino";
import { sql, type DatabasePool } from "slonik";
import { z } from "zod";
import { FailedPreconditionError, InternalError } from "../core/errors.js";
import type { VectorStore } from "../stores/vector-store.js";
import { requireServiceTable, runCutoverMigrations, type CutoverDeps } from "./cutover.js";
import { silentProgress, type ProgressReporter } from "./progress.js";
import { readPrivileges, requireRollbackPrivileges } from "./privileges.js";
import {
  columnIdentifier,
  columnIndexes,
  DEFAULT_COLUMN,
  DEFAULT_LIST_LIMIT,
  inspectSourceTable,
  NO_ROWS,
  query,
  tableIdentifier,
  type MigratableSource,
} from "./source-table.js";
import { formatPgvector } from "./vector-codec.js";

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

/** What copying the vectors back did (`restoreVectors`). */
type RestoreCounts = Pick<
  RollbackReport,
  "restored" | "restoredNull" | "restoredNullIds" | "missingPoints" | "missingPointIds"
>;

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
  const { pool, logger } = deps;
  const table = requireServiceTable(options.table, "--rollback");
  const column = options.column ?? DEFAULT_COLUMN;
  requireRollbackPrivileges(await readPrivileges(pool, table), table);
  const { source, recreatedColumn } = await restoreColumn(deps, table, column);
  const counts = await restoreVectors(deps, source, {
    batchSize: options.batchSize ?? 256,
    listLimit: options.listLimit ?? DEFAULT_LIST_LIMIT,
  });
  const { indexes, recreatedIndexes } = await restoreIndexes(pool, logger, table, column);
  await recordRollback(pool, table);
  const report: RollbackReport = {
    table,
    column,
    columnType: source.vector.columnType,
    recreatedColumn,
    recreatedIndexes,
    indexes,
    ...counts,
  };
  logger.info(
    { ...report, missingPointIds: undefined, restoredNullIds: undefined },
    "rollback done: vectors are back in the pgvector column",
  );
  if (report.missingPoints > 0) {
    logger.warn(
      { missingPoints: report.missingPoints, ids: report.missingPointIds },
      "rows whose point was gone from Qdrant have no vector: re-index them",
    );
  }
  return report;
}

/** The pgvector column: there already (a rollback before cutover), or brought back by the cutover's down step. */
async function restoreColumn(
  deps: RollbackDeps,
  table: string,
  column: string,
): Promise<{ source: MigratableSource; recreatedColumn: boolean }> {
  const { pool, databaseUrl, logger } = deps;
  const before = await inspectSourceTable(pool, table, column);
  if (before.vector !== undefined) {
    return { source: { ...before, vector: before.vector }, recreatedColumn: false };
  }
  const reverted = await runCutoverMigrations(databaseUrl, logger, "down");
  if (reverted.length === 0) {
    throw new FailedPreconditionError(
      `${table} has no column ${column} and no cutover is recorded: nothing to roll back to`,
    );
  }
  const after = await inspectSourceTable(pool, table, column);
  if (after.vector === undefined) {
    throw new InternalError(`the rollback migration ran but ${table}.${column} is still missing`);
  }
  return { source: { ...after, vector: after.vector }, recreatedColumn: true };
}

const restoreRowSchema = z.object({ id: z.string(), origin: z.string().nullable(), hasValue: z.boolean() });

/**
 * Copies the points' vectors back, one keyset page of touched rows (a point id or a side-table record)
 * per transaction, which also clears their point ids and side-table rows: a resumed run skips them.
 */
async function restoreVectors(
  deps: RollbackDeps,
  source: MigratableSource,
  options: { batchSize: number; listLimit: number },
): Promise<RestoreCounts> {
  const { pool, vectors } = deps;
  const progress = deps.progress ?? silentProgress;
  const { table, column } = source;
  const target = tableIdentifier(source);
  const touched = sql.fragment`(${target}.qdrant_point_id IS NOT NULL OR moved.id IS NOT NULL)`;
  const joinMoved = sql.fragment`LEFT JOIN dq_pgvector_moved moved ON moved.source_table = ${table} AND moved.id = ${target}.id`;
  const counts: RestoreCounts = {
    restored: 0,
    restoredNull: 0,
    restoredNullIds: [],
    missingPoints: 0,
    missingPointIds: [],
  };
  const listed = (ids: string[], more: readonly string[]) =>
    ids.push(...more.slice(0, Math.max(0, options.listLimit - ids.length)));

  const total = await query("counting rows to restore", () =>
    pool.oneFirst(sql.type(z.object({ count: z.number() }))`
      SELECT count(*)::int AS count FROM ${target} ${joinMoved} WHERE ${touched}
    `),
  );
  let handled = 0;
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
          LIMIT ${options.batchSize}
        `),
      );
      if (rows.length === 0) {
        break;
      }
      afterId = rows[rows.length - 1].id;
      // The source had no usable vector: NULL again (before cutover the column still holds what it held).
      const noSource = rows.filter((row) => row.origin === "reembedded" || row.origin === "skipped");
      counts.restoredNull += noSource.length;
      listed(
        counts.restoredNullIds,
        noSource.map((row) => row.id),
      );
      // Rows that still hold their value (a rollback before cutover) keep it.
      const wanted = rows
        .filter((row) => !row.hasValue && row.origin !== "reembedded" && row.origin !== "skipped")
        .map((row) => row.id);
      const points = wanted.length === 0 ? [] : await vectors.get(wanted, { withVector: true });
      const found = points.flatMap((point) => (point.vector === undefined ? [] : [{ ...point, vector: point.vector }]));
      const foundIds = new Set(found.map((point) => point.id.toLowerCase()));
      const lost = wanted.filter((id) => !foundIds.has(id.toLowerCase()));
      counts.missingPoints += lost.length;
      listed(counts.missingPointIds, lost);
      await writeBackPage(
        pool,
        source,
        found,
        rows.map((row) => row.id),
      );
      counts.restored += found.length;
      handled += rows.length;
      progress.update(handled);
    }
  } finally {
    progress.stop();
  }
  return counts;
}

/** One page in one transaction: the vectors found, then the page's point ids and side-table rows cleared. */
async function writeBackPage(
  pool: DatabasePool,
  source: MigratableSource,
  found: ReadonlyArray<{ id: string; vector: Float32Array }>,
  ids: readonly string[],
): Promise<void> {
  const target = tableIdentifier(source);
  // The text form is pgvector's input; the cast names the column's own type, so halfvec rounds here.
  const castType = sql.identifier([source.vector.kind]);
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
              found.map((point) => formatPgvector(point.vector)),
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
        DELETE FROM dq_pgvector_moved WHERE source_table = ${source.table} AND id = ANY(${sql.array(ids, "uuid")})
      `),
    );
  });
}

/** Every index that used the column, as recorded at cutover, built once over the restored data. */
async function restoreIndexes(
  pool: DatabasePool,
  logger: Logger,
  table: string,
  column: string,
): Promise<{ indexes: string[]; recreatedIndexes: string[] }> {
  const definitions = await query("reading the recorded indexes", () =>
    pool.maybeOneFirst(sql.type(z.object({ definitions: z.array(z.string()).nullable() }))`
      SELECT index_definitions AS definitions FROM dq_pgvector_migration WHERE source_table = ${table}
    `),
  );
  const before = new Set((await columnIndexes(pool, table, column)).map((index) => index.name));
  // The table is the service's (requireServiceTable): its name may stand in the dollar-quoted block.
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
  if ((definitions?.length ?? 0) > indexes.length) {
    logger.warn({ recorded: definitions, indexes }, "fewer indexes use the column than were recorded at cutover");
  }
  return { indexes, recreatedIndexes: indexes.filter((name) => !before.has(name)) };
}

/** The migration record forgets the pass, the verification and the cutover. */
async function recordRollback(pool: DatabasePool, table: string): Promise<void> {
  await query("recording the rollback", () =>
    pool.query(sql.type(NO_ROWS)`
      UPDATE dq_pgvector_migration
      SET rolled_back_at = now(), cutover_at = NULL, verify_passed = NULL,
          pass_started_at = NULL, last_id = NULL, pass_completed_at = NULL, rows_migrated = 0, updated_at = now()
      WHERE source_table = ${table}
    `),
  );
}
