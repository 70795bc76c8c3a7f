import type { Logger } from "pino";
import { sql, type DatabasePool } from "slonik";
import { z } from "zod";
import { readState } from "./migration-state.js";
import {
  columnIdentifier,
  DEFAULT_COLUMN,
  DEFAULT_LIST_LIMIT,
  DEFAULT_TABLE,
  type SourceOptions,
  inspectSourceTable,
  movedCondition,
  query,
  requireMigratable,
  tableIdentifier,
} from "./source-table.js";
import { listUnusable, type UnusableSummary } from "./unusable-rows.js";

export interface DryRunReport {
  table: string;
  column: string;
  columnType: string;
  dimensions: number;
  /** Whether `npm run migrate` has added the service's columns (the real run does it first). */
  schemaMigrated: boolean;
  totalRows: number;
  catalogs: number;
  /** Rows that already have a Qdrant point (qdrant_point_id set). */
  alreadyMigrated: number;
  /** Rows the run would upsert from their pgvector value. */
  toMigrate: number;
  /** Vector dimensions found, with their row counts. */
  dimensionsFound: Array<{ dimensions: number | null; rows: number }>;
  unusable: UnusableSummary;
  /** A pass was interrupted: the run resumes after this id. */
  resumeAfterId: string | null;
  /** What the run would do, in sentences. */
  plan: string[];
}

const totalsSchema = z.object({ totalRows: z.number(), catalogs: z.number(), alreadyMigrated: z.number() });
const dimensionsSchema = z.object({ dimensions: z.number().nullable(), rows: z.number() });

/** Counts what a run would do, writing nothing (no schema migration, no checkpoint, no Qdrant call). */
export async function dryRunPgvector(
  deps: { pool: DatabasePool; logger: Logger },
  options: SourceOptions & { listLimit?: number },
): Promise<DryRunReport> {
  const { pool, logger } = deps;
  const table = options.table ?? DEFAULT_TABLE;
  const column = options.column ?? DEFAULT_COLUMN;
  const { dimensions } = options;
  const source = await inspectSourceTable(pool, table, column);
  // An old-shape table (before `npm run migrate`) has no point ids yet: every row counts as unmigrated.
  const schemaMigrated = source.hasServiceColumns;
  requireMigratable({ ...source, hasServiceColumns: true });
  const vectorColumn = columnIdentifier(source);
  // The side table comes with the service's migrations; a database migrated before it has none yet.
  const tracked =
    schemaMigrated &&
    (await query("looking for the migration's side table", () =>
      pool.oneFirst(
        sql.type(z.object({ present: z.boolean() }))`SELECT to_regclass('dq_pgvector_moved') IS NOT NULL AS present`,
      ),
    ));
  const migrated = tracked
    ? movedCondition(source)
    : schemaMigrated
      ? sql.fragment`qdrant_point_id IS NOT NULL`
      : sql.fragment`FALSE`;

  const totals = await query("counting rows", () =>
    pool.one(sql.type(totalsSchema)`
      SELECT count(*)::int AS "totalRows", count(DISTINCT catalog_id)::int AS catalogs, count(*) FILTER (WHERE ${migrated})::int AS "alreadyMigrated"
      FROM ${tableIdentifier(source)}
    `),
  );
  const dimensionsFound = await query("counting dimensions", () =>
    pool.any(sql.type(dimensionsSchema)`
      SELECT vector_dims(${vectorColumn}) AS dimensions, count(*)::int AS rows
      FROM ${tableIdentifier(source)}
      GROUP BY 1
      ORDER BY 1 NULLS LAST
    `),
  );
  const unusable = await listUnusable(
    pool,
    source,
    dimensions,
    options.listLimit ?? DEFAULT_LIST_LIMIT,
    tracked ? "left" : "all",
  );
  const state = schemaMigrated ? await readState(pool, table).catch(() => null) : null;
  const resumeAfterId =
    state !== null && state.passStartedAt !== null && state.passCompletedAt === null ? state.lastId : null;
  const toMigrate = totals.totalRows - totals.alreadyMigrated - unusable.nullVector - unusable.wrongDimension;

  const plan: string[] = [];
  if (!schemaMigrated) {
    plan.push(`add the service's columns to ${table} (npm run migrate), keeping every row and the ${column} column`);
  }
  plan.push(
    toMigrate > 0
      ? `upsert ${toMigrate} point(s) of ${dimensions} dimensions into Qdrant (point id = row id, the service's payload) and write qdrant_point_id back`
      : "upsert nothing: every usable vector is already in Qdrant",
  );
  if (resumeAfterId !== null) {
    plan.push(`resume the interrupted pass after id ${resumeAfterId}`);
  }
  if (unusable.nullVector + unusable.wrongDimension > 0) {
    plan.push(
      `leave ${unusable.nullVector} row(s) with a null vector and ${unusable.wrongDimension} with another dimension for re-embedding (--reembed-missing embeds exactly those)`,
    );
  }
  plan.push("make no embedding call");
  const report: DryRunReport = {
    table,
    column,
    columnType: source.vector?.columnType ?? "",
    dimensions,
    schemaMigrated,
    totalRows: totals.totalRows,
    catalogs: totals.catalogs,
    alreadyMigrated: totals.alreadyMigrated,
    toMigrate,
    dimensionsFound: [...dimensionsFound],
    unusable,
    resumeAfterId,
    plan,
  };
  logger.debug({ table, toMigrate }, "dry run done");
  return report;
}
