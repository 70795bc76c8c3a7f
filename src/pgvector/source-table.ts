import { sql, type CommonQueryMethods, type IdentifierSqlToken } from "slonik";
import { z } from "zod";
import { embeddingRowSchema } from "../stores/postgres-metadata-store.js";
import { FailedPreconditionError, InvalidArgumentError } from "../core/errors.js";
import type { EmbeddingRowInput } from "../core/types.js";
import { toPostgresDomainError } from "../stores/postgres-pool.js";
import { decodePgvector, sentDimensions, type PgvectorKind } from "./vector-codec.js";

/**
 * The table the vectors come from: `dq_embeddings` (or `--table`) with a pgvector column (`embedding`,
 * `vector(n)` or `halfvec(n)`). Every statement is built with Slonik's `sql` tag; table and column
 * names only ever enter SQL through `sql.identifier`.
 */
export interface SourceTable {
  table: string;
  column: string;
  /** Undefined when the pgvector column is gone (after cutover). */
  vector:
    | {
        kind: PgvectorKind;
        /** Declared dimension; undefined for an unconstrained `vector`. */ declaredDimensions: number | undefined;
        columnType: string;
      }
    | undefined;
  /** Whether the service's columns (qdrant_point_id, status, content_hash, model...) exist. */
  hasServiceColumns: boolean;
}

/** A source table that still has its pgvector column (before cutover). */
export type MigratableSource = SourceTable & { vector: NonNullable<SourceTable["vector"]> };

export const DEFAULT_TABLE = "dq_embeddings";
export const DEFAULT_COLUMN = "embedding";
/** Unusable or mismatched rows listed by id in a report (all are counted). */
export const DEFAULT_LIST_LIMIT = 1_000;

export interface SourceOptions {
  table?: string;
  column?: string;
  /** The collection's dimension (EMBEDDING_DIMENSIONS); other vectors are reported, not carried over. */
  dimensions: number;
}

/** The columns `npm run migrate` adds; the migration reads and writes them. */
const SERVICE_COLUMNS = ["qdrant_point_id", "schema_name", "table_name", "status", "content_hash", "model"] as const;
const OLD_COLUMNS = ["id", "content", "kind", "catalog_id", "metadata"] as const;

/** For statements that return no rows (UPDATE, DDL). */
export const NO_ROWS = z.object({});

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

const columnSchema = z.object({ name: z.string(), typeName: z.string(), typmod: z.number(), columnType: z.string() });

export async function inspectSourceTable(
  connection: CommonQueryMethods,
  table: string,
  column: string,
): Promise<SourceTable> {
  for (const [flag, name] of [
    ["--table", table],
    ["--column", column],
  ] as const) {
    if (!NAME_PATTERN.test(name)) {
      throw new InvalidArgumentError(flag, `must be a plain SQL name (letters, digits, _), got "${name}"`);
    }
  }
  const columns = await query("inspecting the source table", () =>
    connection.any(sql.type(columnSchema)`
      SELECT a.attname AS name, t.typname AS "typeName", a.atttypmod AS typmod, format_type(a.atttypid, a.atttypmod) AS "columnType"
      FROM pg_attribute a
      JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = to_regclass(quote_ident(${table}))
        AND a.attnum > 0
        AND NOT a.attisdropped
    `),
  );
  if (columns.length === 0) {
    throw new FailedPreconditionError(`table ${table} does not exist in this database: check DATABASE_URL and --table`);
  }
  const byName = new Map(columns.map((entry) => [entry.name, entry]));
  const missingOld = OLD_COLUMNS.filter((name) => !byName.has(name));
  if (missingOld.length > 0) {
    throw new FailedPreconditionError(
      `table ${table} has no column ${missingOld.join(", ")}: it is not a dq_embeddings table`,
    );
  }
  const vectorColumn = byName.get(column);
  let vector: SourceTable["vector"];
  if (vectorColumn !== undefined) {
    if (vectorColumn.typeName !== "vector" && vectorColumn.typeName !== "halfvec") {
      throw new FailedPreconditionError(
        `column ${table}.${column} is ${vectorColumn.columnType}; the migration reads pgvector vector or halfvec columns`,
      );
    }
    vector = {
      kind: vectorColumn.typeName,
      declaredDimensions: vectorColumn.typmod > 0 ? vectorColumn.typmod : undefined,
      columnType: vectorColumn.columnType,
    };
  }
  return { table, column, vector, hasServiceColumns: SERVICE_COLUMNS.every((name) => byName.has(name)) };
}

/** Throws unless the table has both its pgvector column and the service's columns. */
export function requireMigratable(source: SourceTable): asserts source is MigratableSource {
  if (source.vector === undefined) {
    throw new FailedPreconditionError(
      `table ${source.table} has no column ${source.column}: the vectors were already cut over (use --rollback to bring the column back)`,
    );
  }
  if (!source.hasServiceColumns) {
    throw new FailedPreconditionError(
      `table ${source.table} lacks the service's columns (${SERVICE_COLUMNS.join(", ")}): run npm run migrate first`,
    );
  }
}

export function tableIdentifier(source: SourceTable): IdentifierSqlToken {
  return sql.identifier([source.table]);
}

export function columnIdentifier(source: SourceTable): IdentifierSqlToken {
  return sql.identifier([source.column]);
}

/** `vector_send(embedding)` or `halfvec_send(embedding)`: the column as pgvector's binary format. */
export function sendExpression(source: MigratableSource) {
  return sql.fragment`${sql.identifier([`${source.vector.kind}_send`])}(${columnIdentifier(source)})`;
}

const sourceRowSchema = embeddingRowSchema
  .omit({ qdrantPointId: true, createdAt: true, updatedAt: true })
  .extend({ vector: z.instanceof(Uint8Array).nullable() });

export type SourceRow = z.infer<typeof sourceRowSchema>;

export interface PageOptions {
  /** `unmigrated` (default): rows without a point (`qdrant_point_id IS NULL`); `all`: every row. */
  scope?: "unmigrated" | "all";
  /** Only rows whose vector is null or not this long; their vector is not read. */
  onlyUnusableOf?: number;
  /** Only this row. */
  onlyId?: string;
}

/**
 * One keyset page of rows in id order, with their vectors in pgvector's binary format. Never OFFSET:
 * each page starts after the last id of the previous one.
 */
export async function readSourcePage(
  connection: CommonQueryMethods,
  source: MigratableSource,
  afterId: string | undefined,
  limit: number,
  options: PageOptions = {},
): Promise<readonly SourceRow[]> {
  const after = afterId === undefined ? sql.fragment`TRUE` : sql.fragment`id > ${afterId}::uuid`;
  // Rows to re-embed: unusable and without a point (a row skipped earlier may be re-embedded later).
  const scope =
    options.scope === "all"
      ? sql.fragment`TRUE`
      : options.onlyUnusableOf === undefined
        ? unhandledCondition(source, afterId)
        : unmovedCondition(source, afterId);
  // Rows to re-embed need their content, not their (null or wrong-sized) vector.
  const only =
    options.onlyUnusableOf === undefined ? sql.fragment`TRUE` : unusableCondition(source, options.onlyUnusableOf);
  const vector = options.onlyUnusableOf === undefined ? sendExpression(source) : sql.fragment`NULL::bytea`;
  const one = options.onlyId === undefined ? sql.fragment`TRUE` : sql.fragment`id = ${options.onlyId}::uuid`;
  return query("reading source rows", () =>
    // The page's ids first, then their columns: whatever plan the inner query gets (a sort after a
    // sequential scan, before statistics exist), the vectors of rows outside the page are never read.
    connection.any(sql.type(sourceRowSchema)`
      WITH page AS (
        SELECT id FROM ${tableIdentifier(source)}
        WHERE ${scope} AND ${after} AND ${only} AND ${one}
        ORDER BY id
        LIMIT ${limit}
      )
      SELECT
        id,
        catalog_id AS "catalogId",
        kind,
        content,
        metadata,
        schema_name AS "schemaName",
        table_name AS "tableName",
        status,
        content_hash AS "contentHash",
        model,
        ${vector} AS vector
      FROM ${tableIdentifier(source)}
      JOIN page USING (id)
      ORDER BY id
    `),
  );
}

/** SQL for "this row's pgvector value cannot be carried over": null, or not `dimensions` long. */
export function unusableCondition(source: SourceTable, dimensions: number) {
  const vectorColumn = columnIdentifier(source);
  return sql.fragment`(${vectorColumn} IS NULL OR vector_dims(${vectorColumn}) <> ${dimensions})`;
}

/** The service's row for a source row, with its point id set (`qdrant_point_id` = id, as ingest does). */
export function toRowInput(row: SourceRow): EmbeddingRowInput {
  return {
    id: row.id,
    catalogId: row.catalogId,
    kind: row.kind,
    content: row.content,
    metadata: row.metadata,
    schemaName: row.schemaName,
    tableName: row.tableName,
    status: row.status,
    contentHash: row.contentHash,
    model: row.model,
    qdrantPointId: row.id,
  };
}

/** Why a row's vector cannot be carried over. */
export type UnusableReason = "null_vector" | "wrong_dimension";

export type ClassifiedVector =
  { ok: true; vector: Float32Array } | { ok: false; reason: UnusableReason; dimensions: number | null };

/**
 * Decodes a row's vector, or says why it is unusable (null, or not `dimensions` long). `decode` may be
 * `decodePgvectorInPlace` when the row's bytes are not read again.
 */
export function classifyVector(
  bytes: Uint8Array | null,
  kind: PgvectorKind,
  dimensions: number,
  decode: (bytes: Uint8Array, kind: PgvectorKind) => Float32Array = decodePgvector,
): ClassifiedVector {
  if (bytes === null) {
    return { ok: false, reason: "null_vector", dimensions: null };
  }
  const found = sentDimensions(bytes);
  if (found !== dimensions) {
    return { ok: false, reason: "wrong_dimension", dimensions: found };
  }
  return { ok: true, vector: decode(bytes, kind) };
}

/**
 * Refreshes the planner's statistics: a table filled in bulk and never analyzed gets a sort over a
 * sequential scan for every keyset page instead of a primary-key index scan. Best effort.
 */
export async function analyzeTable(connection: CommonQueryMethods, source: SourceTable): Promise<boolean> {
  try {
    await connection.query(sql.type(NO_ROWS)`ANALYZE ${tableIdentifier(source)}`);
    return true;
  } catch {
    return false;
  }
}

/** How the migration handled a row (`dq_pgvector_moved.origin`). */
export type MovedOrigin = "pgvector" | "reembedded" | "skipped";

/**
 * The row has a point in Qdrant: the migration recorded it in `dq_pgvector_moved` (its own vector or a
 * re-embedded one), or `qdrant_point_id` says so (written back, or a row the service wrote itself).
 */
export function movedCondition(source: SourceTable) {
  return sql.fragment`(${tableIdentifier(source)}.qdrant_point_id IS NOT NULL OR EXISTS (
    SELECT 1 FROM dq_pgvector_moved moved
    WHERE moved.source_table = ${source.table} AND moved.id = ${tableIdentifier(source)}.id AND moved.origin <> 'skipped'
  ))`;
}

/**
 * The migration is not done with the row: no point id and nothing recorded (not even a skip). Written
 * as `IS NULL AND NOT EXISTS`, not `NOT (... OR EXISTS)`: Postgres plans it as an anti-join probing the
 * side table's primary key per row, where the OR form hashed every recorded id for every page.
 */
export function unhandledCondition(source: SourceTable, afterId?: string) {
  return sql.fragment`(${tableIdentifier(source)}.qdrant_point_id IS NULL AND NOT EXISTS (
    SELECT 1 FROM dq_pgvector_moved moved
    WHERE moved.source_table = ${source.table} AND moved.id = ${tableIdentifier(source)}.id AND ${movedAfter(afterId)}
  ))`;
}

/** The row has no point: no point id and nothing recorded but, at most, a skip. Anti-join form. */
export function unmovedCondition(source: SourceTable, afterId?: string) {
  return sql.fragment`(${tableIdentifier(source)}.qdrant_point_id IS NULL AND NOT EXISTS (
    SELECT 1 FROM dq_pgvector_moved moved
    WHERE moved.source_table = ${source.table} AND moved.id = ${tableIdentifier(source)}.id AND moved.origin <> 'skipped' AND ${movedAfter(afterId)}
  ))`;
}

/**
 * The keyset bound repeated on the side table (implied by `moved.id = t.id`, not added by the
 * planner): a merge anti-join then starts at the page instead of reading every recorded id per page.
 */
function movedAfter(afterId: string | undefined) {
  return afterId === undefined ? sql.fragment`TRUE` : sql.fragment`moved.id > ${afterId}::uuid`;
}

/** The row was excluded by --skip-missing and has no point. */
export function skippedCondition(source: SourceTable) {
  return sql.fragment`(${tableIdentifier(source)}.qdrant_point_id IS NULL AND EXISTS (
    SELECT 1 FROM dq_pgvector_moved moved
    WHERE moved.source_table = ${source.table} AND moved.id = ${tableIdentifier(source)}.id AND moved.origin = 'skipped'
  ))`;
}

/**
 * Records rows as handled in the side table, one statement per batch. The old table is not written:
 * an UPDATE there re-inserts the row into every index of the table, the vector index included.
 */
export async function recordMoved(
  connection: CommonQueryMethods,
  source: SourceTable,
  ids: readonly string[],
  origin: MovedOrigin,
): Promise<void> {
  if (ids.length === 0) {
    return;
  }
  await query("recording migrated rows", () =>
    connection.query(sql.type(NO_ROWS)`
      INSERT INTO dq_pgvector_moved (source_table, id, origin)
      SELECT ${source.table}, id, ${origin} FROM unnest(${sql.array(ids, "uuid")}) AS input (id)
      ON CONFLICT (source_table, id) DO UPDATE SET origin = excluded.origin, moved_at = now()
    `),
  );
}

/**
 * Sets `qdrant_point_id = id` for every row the migration gave a point, in one set-based statement.
 * Cheap when no index uses the pgvector column (each row is written once, b-tree indexes only); with
 * such an index every row would be re-inserted into it, so callers then leave it to the cutover.
 */
export async function writeBackPointIds(connection: CommonQueryMethods, source: SourceTable): Promise<number> {
  const result = await query("writing qdrant_point_id back", () =>
    connection.query(sql.type(NO_ROWS)`
      UPDATE ${tableIdentifier(source)}
      SET qdrant_point_id = ${tableIdentifier(source)}.id::text
      FROM dq_pgvector_moved moved
      WHERE moved.source_table = ${source.table}
        AND moved.id = ${tableIdentifier(source)}.id
        AND moved.origin <> 'skipped'
        AND ${tableIdentifier(source)}.qdrant_point_id IS NULL
    `),
  );
  return result.rowCount;
}

const indexSchema = z.object({ name: z.string(), definition: z.string() });

/**
 * Every index that uses the column: on it, on an expression of it (`(embedding::halfvec(3072))`), or
 * with it in its predicate. `indkey` alone misses the last two; pg_depend records all three, and they
 * are exactly what `DROP COLUMN` drops with the column.
 */
export async function columnIndexes(
  connection: CommonQueryMethods,
  table: string,
  column: string,
): Promise<Array<{ name: string; definition: string }>> {
  const rows = await query("listing the indexes on the vector column", () =>
    connection.any(sql.type(indexSchema)`
      SELECT DISTINCT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
      FROM pg_index i
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attname = ${column} AND NOT a.attisdropped
      WHERE i.indrelid = to_regclass(quote_ident(${table}))
        AND (
          a.attnum = ANY (i.indkey::int2[])
          OR EXISTS (
            SELECT 1 FROM pg_depend d
            WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
              AND d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indrelid AND d.refobjsubid = a.attnum
          )
        )
      ORDER BY 1
    `),
  );
  return [...rows];
}

/** Runs a query, turning driver errors into domain errors (messages without SQL). */
export async function query<T>(action: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw toPostgresDomainError(error, action);
  }
}
