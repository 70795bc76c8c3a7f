import type { Logger } from "pino";
import { sql, type DatabasePool } from "slonik";
import { z } from "zod";
import { silentProgress, type ProgressReporter } from "./progress.js";
import { DEFAULT_SOURCE_MODEL } from "./source-model.js";
import { DEFAULT_TABLE, NO_ROWS, query } from "./source-table.js";

/**
 * The schema phase of an old installation, planned for large tables and run before `npm run migrate`
 * so that migration finds nothing expensive left to do. Run as one migration, the old shape cost a
 * rewrite of the whole table for `metadata json -> jsonb` (every index rebuilt, the HNSW one included)
 * and two full-table UPDATEs (content_hash, model), silently and deaf to Ctrl-C. Here:
 *
 * - columns are added the cheap way: without a default, or with a constant one (Postgres 11+ stores it
 *   once instead of writing every row); `model` gets the deployment's model that way;
 * - the per-row values (content_hash, and metadata as jsonb in a new column) are written in batches
 *   of ONE ROW PER HEAP PAGE, each its own short transaction, with progress; the abort signal is
 *   checked between batches, and a later run resumes with the rows still to do. Why one row per page:
 *   an UPDATE that changes no indexed column is HOT (no index entry at all, the vector index
 *   included) when the new version fits on the same page. A bulk-loaded page is full, so the first
 *   update of a page moves its row (and inserts into every index); once that commits, the next batch
 *   finds the dead version pruned and its space free, and every later row of that page is updated in
 *   place. Keyset batches by id instead hit many rows of a full page in one transaction: every one of
 *   them was an index insert (measured on Postgres 15 + pgvector 0.8 with an HNSW halfvec index: 410
 *   rows/s by id, ~9,000 rows/s page by page, 974 of 998 updates HOT);
 * - the jsonb column then replaces the json one by DROP COLUMN + RENAME (catalog changes only), in one
 *   short transaction that first catches up rows written meanwhile.
 *
 * Every row is still written once (content_hash is per row); about one per page pays an index insert.
 */

/** The table `npm run migrate` shapes; --table tables are expected to be in the service's shape already. */
const SCHEMA_TABLE = DEFAULT_TABLE;
/** The jsonb copy of `metadata` while it is being filled. */
export const PENDING_METADATA_COLUMN = "metadata_jsonb_pending";
/** Heap pages per range: a batch writes at most one row of each page of its range. */
export const DEFAULT_SCHEMA_BATCH_SIZE = 1_000;

export interface SchemaPhaseOptions {
  /** Heap pages per range (a batch writes at most one row per page, so at most this many rows). */
  batchSize?: number;
  /** Checked between batches. */
  signal?: AbortSignal;
  /** Called after each committed batch (tests interrupt a run with it). */
  onBatch?: (batch: { index: number; rows: number }) => void;
}

export interface SchemaPhaseReport {
  /** False when there was no old table to prepare (missing, or already in the service's shape). */
  needed: boolean;
  addedColumns: string[];
  addedPrimaryKey: boolean;
  convertedMetadata: boolean;
  /** Rows written by the batches of this run. */
  rowsWritten: number;
  batches: number;
  interrupted: boolean;
  elapsedMs: number;
}

const columnSchema = z.object({ name: z.string(), type: z.string(), notNull: z.boolean() });
const batchSchema = z.object({ count: z.number() });

type Columns = Map<string, z.infer<typeof columnSchema>>;

export async function prepareOldSchema(
  deps: { pool: DatabasePool; logger: Logger; progress?: ProgressReporter },
  options: SchemaPhaseOptions = {},
): Promise<SchemaPhaseReport> {
  const { pool, logger } = deps;
  const started = performance.now();
  const report: SchemaPhaseReport = {
    needed: false,
    addedColumns: [],
    addedPrimaryKey: false,
    convertedMetadata: false,
    rowsWritten: 0,
    batches: 0,
    interrupted: false,
    elapsedMs: 0,
  };
  const columns = await readColumns(pool);
  const metadataIsJson = columns.get("metadata")?.type === "json";
  const convert = metadataIsJson || columns.has(PENDING_METADATA_COLUMN);
  // Only an old installation needs this phase: no content_hash yet, json metadata, or a content_hash
  // still nullable (an interrupted phase; the service's migration makes it NOT NULL).
  const old =
    columns.has("content") &&
    (!columns.has("content_hash") || convert || columns.get("content_hash")?.notNull === false);
  if (!old) {
    report.elapsedMs = performance.now() - started;
    return report;
  }
  report.needed = true;

  Object.assign(report, await addColumns(pool, columns, metadataIsJson));
  logger.info(
    { table: SCHEMA_TABLE, addedColumns: report.addedColumns, convertMetadata: convert },
    "schema phase: columns added without rewriting the table",
  );
  Object.assign(report, await fillRows(deps, options, convert));
  if (!report.interrupted && convert) {
    await replaceMetadata(pool);
    report.convertedMetadata = true;
  }
  report.elapsedMs = performance.now() - started;
  logger.info(
    {
      table: SCHEMA_TABLE,
      rowsWritten: report.rowsWritten,
      batches: report.batches,
      interrupted: report.interrupted,
      seconds: Math.round(report.elapsedMs / 1000),
    },
    report.interrupted ? "schema phase interrupted: run again to resume" : "schema phase done",
  );
  return report;
}

async function readColumns(pool: DatabasePool): Promise<Columns> {
  const rows = await query("inspecting the old table", () =>
    pool.any(sql.type(columnSchema)`
      SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS "notNull"
      FROM pg_attribute a
      WHERE a.attrelid = to_regclass(quote_ident(${SCHEMA_TABLE})) AND a.attnum > 0 AND NOT a.attisdropped
    `),
  );
  return new Map(rows.map((column) => [column.name, column]));
}

/** Step 1: catalog-only changes (columns with no or constant defaults, the primary key), one short transaction. */
async function addColumns(
  pool: DatabasePool,
  columns: Columns,
  metadataIsJson: boolean,
): Promise<Pick<SchemaPhaseReport, "addedColumns" | "addedPrimaryKey">> {
  const table = sql.identifier([SCHEMA_TABLE]);
  const added: string[] = [];
  let addedPrimaryKey = false;
  await pool.transaction(async (tx) => {
    const add = async (name: string, definition: ReturnType<typeof sql.fragment>) => {
      if (!columns.has(name)) {
        await query(`adding column ${name}`, () =>
          tx.query(sql.type(NO_ROWS)`ALTER TABLE ${table} ADD COLUMN ${sql.identifier([name])} ${definition}`),
        );
        added.push(name);
      }
    };
    await add("qdrant_point_id", sql.fragment`text`);
    await add("schema_name", sql.fragment`text`);
    await add("table_name", sql.fragment`text`);
    await add("status", sql.fragment`text NOT NULL DEFAULT 'pending'`);
    await add("content_hash", sql.fragment`text`);
    if (!columns.has("model")) {
      // A constant default is stored once, not written per row; the service's migration keeps no default.
      // DDL takes no bind parameters: the constant goes in as an escaped literal.
      await add("model", sql.fragment`text NOT NULL DEFAULT ${sql.literalValue(DEFAULT_SOURCE_MODEL)}`);
      await query("dropping the model default", () =>
        tx.query(sql.type(NO_ROWS)`ALTER TABLE ${table} ALTER COLUMN model DROP DEFAULT`),
      );
    }
    // now() is stable, not volatile: evaluated once, stored once.
    await add("created_at", sql.fragment`timestamptz NOT NULL DEFAULT now()`);
    await add("updated_at", sql.fragment`timestamptz NOT NULL DEFAULT now()`);
    if (metadataIsJson) {
      await add(PENDING_METADATA_COLUMN, sql.fragment`jsonb`);
    }
    const hasPrimaryKey = await query("looking for a primary key", () =>
      tx.oneFirst(sql.type(z.object({ present: z.boolean() }))`
        SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass(quote_ident(${SCHEMA_TABLE})) AND contype = 'p') AS present
      `),
    );
    if (!hasPrimaryKey) {
      // Keyset batches page by id; the service's migration would add it anyway.
      await query("adding the primary key", () =>
        tx.query(sql.type(NO_ROWS)`ALTER TABLE ${table} ADD PRIMARY KEY (id)`),
      );
      addedPrimaryKey = true;
    }
  });
  return { addedColumns: added, addedPrimaryKey };
}

/** What is still to write per row (content_hash, and the jsonb metadata copy), and how. */
function rowWork(convert: boolean) {
  const pending = sql.identifier([PENDING_METADATA_COLUMN]);
  // A row without content gets no hash (the service's migration then refuses the table, naming content).
  const noHash = sql.fragment`(content_hash IS NULL AND content IS NOT NULL)`;
  return {
    todo: convert ? sql.fragment`(${noHash} OR ${pending} IS NULL)` : noHash,
    set: convert
      ? sql.fragment`content_hash = coalesce(target.content_hash, encode(sha256(convert_to(target.content, 'UTF8')), 'hex')), ${pending} = ${jsonbMetadata()}`
      : sql.fragment`content_hash = encode(sha256(convert_to(target.content, 'UTF8')), 'hex')`,
  };
}

/**
 * Step 2: per-row values in batches of one row per heap page (so almost every update is HOT): the
 * table's pages range by range, each until no row of it is left; then sweeps of the whole table for
 * rows that moved or arrived meanwhile (a row updated concurrently is picked up there).
 */
async function fillRows(
  deps: { pool: DatabasePool; progress?: ProgressReporter },
  options: SchemaPhaseOptions,
  convert: boolean,
): Promise<Pick<SchemaPhaseReport, "rowsWritten" | "batches" | "interrupted">> {
  const { pool } = deps;
  const progress = deps.progress ?? silentProgress;
  const batchSize = options.batchSize ?? DEFAULT_SCHEMA_BATCH_SIZE;
  const table = sql.identifier([SCHEMA_TABLE]);
  const { todo, set } = rowWork(convert);
  const done = { rowsWritten: 0, batches: 0, interrupted: false };
  const total = await query("counting rows to prepare", () =>
    pool.oneFirst(sql.type(z.object({ count: z.number() }))`SELECT count(*)::int AS count FROM ${table} WHERE ${todo}`),
  );
  progress.start(`preparing ${SCHEMA_TABLE} (content_hash${convert ? ", metadata as jsonb" : ""})`, total);
  const pages = await query("measuring the old table", () =>
    pool.oneFirst(sql.type(z.object({ pages: z.number() }))`
      SELECT (pg_relation_size(to_regclass(quote_ident(${SCHEMA_TABLE}))) / current_setting('block_size')::int)::int AS pages
    `),
  );
  // One row per heap page of the range (or of the whole table for the last sweep), by ctid.
  const batch = (range: { from: number; to: number } | undefined) => {
    const within =
      range === undefined
        ? sql.fragment`TRUE`
        : sql.fragment`ctid >= ${`(${range.from},0)`}::tid AND ctid < ${`(${range.to},0)`}::tid`;
    return query("preparing a batch of rows", () =>
      pool.oneFirst(sql.type(batchSchema)`
        WITH page AS (
          SELECT DISTINCT ON ((ctid::text::point)[0]) ctid AS row_ctid
          FROM ${table}
          WHERE ${within} AND ${todo}
          ORDER BY (ctid::text::point)[0], ctid
        ), written AS (
          UPDATE ${table} AS target SET ${set} FROM page WHERE target.ctid = page.row_ctid RETURNING 1
        )
        SELECT count(*)::int AS count FROM written
      `),
    );
  };
  try {
    const ranges: Array<{ from: number; to: number } | undefined> = [];
    for (let from = 0; from < pages; from += batchSize) ranges.push({ from, to: from + batchSize });
    ranges.push(undefined);
    outer: for (const range of ranges) {
      for (;;) {
        if (options.signal?.aborted) {
          done.interrupted = true;
          break outer;
        }
        const count = await batch(range);
        if (count === 0) {
          break;
        }
        done.rowsWritten += count;
        done.batches++;
        progress.update(done.rowsWritten);
        options.onBatch?.({ index: done.batches, rows: count });
      }
    }
  } finally {
    progress.stop();
  }
  return done;
}

/** Step 3: the jsonb column replaces the json one (catalog changes), after catching up rows written meanwhile. */
async function replaceMetadata(pool: DatabasePool): Promise<void> {
  const table = sql.identifier([SCHEMA_TABLE]);
  const { todo, set } = rowWork(true);
  await pool.transaction(async (tx) => {
    await query("locking the old table", () =>
      tx.query(sql.type(NO_ROWS)`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`),
    );
    await query("preparing rows written meanwhile", () =>
      tx.query(sql.type(NO_ROWS)`UPDATE ${table} AS target SET ${set} WHERE ${todo}`),
    );
    await query("dropping the json metadata", () =>
      tx.query(sql.type(NO_ROWS)`ALTER TABLE ${table} DROP COLUMN metadata`),
    );
    await query("renaming the jsonb metadata", () =>
      tx.query(
        sql.type(NO_ROWS)`ALTER TABLE ${table} RENAME COLUMN ${sql.identifier([PENDING_METADATA_COLUMN])} TO metadata`,
      ),
    );
  });
}

/** `metadata` (json) as the service keeps it: null -> {}, a non-object under "legacy_value". */
function jsonbMetadata() {
  return sql.fragment`CASE
    WHEN target.metadata IS NULL OR json_typeof(target.metadata) = 'null' THEN '{}'::jsonb
    WHEN json_typeof(target.metadata) <> 'object' THEN jsonb_build_object('legacy_value', target.metadata::jsonb)
    ELSE target.metadata::jsonb
  END`;
}
