import type { Logger } from "pino";
import { sql, type CommonQueryMethods, type DatabasePool } from "slonik";
import { z } from "zod";
import { FailedPreconditionError } from "../core/errors.js";
import { pointOf } from "../core/ingest.js";
import type { Embedder } from "../embedders/embedder.js";
import type { VectorPoint, VectorStore } from "../stores/vector-store.js";
import { completePass, invalidateVerify, readState, recordBatch, startPass } from "./migration-state.js";
import { silentProgress, type ProgressReporter } from "./progress.js";
import {
  analyzeTable,
  classifyVector,
  columnIdentifier,
  columnIndexes,
  unhandledCondition,
  recordMoved,
  skippedCondition,
  inspectSourceTable,
  NO_ROWS,
  query,
  readSourcePage,
  requireMigratable,
  tableIdentifier,
  toRowInput,
  unusableCondition,
  writeBackPointIds,
  type SourceRow,
  type SourceTable,
  type UnusableReason,
} from "./source-table.js";

export const DEFAULT_TABLE = "dq_embeddings";
export const DEFAULT_COLUMN = "embedding";
/** Rows read from Postgres per keyset page. */
export const DEFAULT_BATCH_SIZE = 512;
/** Points per Qdrant upsert: 64 x 12 KiB keeps messages small and decoding cheap on both sides. */
export const DEFAULT_UPSERT_BATCH_SIZE = 64;
/** Upserts in flight at once: the client encodes one while Qdrant decodes another. */
export const DEFAULT_UPSERT_CONCURRENCY = 2;
/** Unusable rows listed by id in a report (all are counted). */
export const DEFAULT_LIST_LIMIT = 1_000;

export interface MigrateDeps {
  pool: DatabasePool;
  vectors: VectorStore;
  logger: Logger;
  progress?: ProgressReporter;
  /** Needed only with `reembedMissing`. */
  embedder?: Embedder;
}

export interface SourceOptions {
  table?: string;
  column?: string;
  /** The collection's dimension (EMBEDDING_DIMENSIONS); other vectors are reported, not carried over. */
  dimensions: number;
}

export interface MigrateOptions extends SourceOptions {
  batchSize?: number;
  upsertBatchSize?: number;
  upsertConcurrency?: number;
  /** Read the next page while this one is upserted (default true; false gives a clean per-phase split). */
  prefetch?: boolean;
  /** Embed the rows whose vector is null or of the wrong dimension (their content, nothing else). */
  reembedMissing?: boolean;
  /** Exclude those rows instead (recorded and listed): the cutover may then go ahead without them. */
  skipMissing?: boolean;
  /**
   * The model that made the collection's vectors (what the source rows record). Default: the rows'
   * own `model`, which must be one. The embedder of `reembedMissing` must be this model.
   */
  model?: string;
  /** Checked between batches: the batch in flight is finished and checkpointed, then the run stops. */
  signal?: AbortSignal;
  listLimit?: number;
  /** Called after each batch is committed (tests use it to interrupt a run). */
  onBatch?: (batch: { index: number; rows: number; migrated: number; lastId: string }) => void;
}

export interface UnusableRow {
  id: string;
  catalogId: string;
  reason: UnusableReason;
  /** The vector's dimension for `wrong_dimension`; null for `null_vector`. */
  dimensions: number | null;
}

export interface UnusableSummary {
  nullVector: number;
  wrongDimension: number;
  /** The first `listLimit` of them by id. */
  rows: UnusableRow[];
  truncated: boolean;
}

export interface PhaseTimings {
  readMs: number;
  decodeMs: number;
  upsertMs: number;
  writeBackMs: number;
  embedMs: number;
  totalMs: number;
}

export interface MigrateReport {
  table: string;
  column: string;
  columnType: string;
  dimensions: number;
  /** The pass continued from a checkpoint left by an interrupted run. */
  resumed: boolean;
  resumedAfterId: string | null;
  /** Rows read by this run (rows already in Qdrant are not read again). */
  scanned: number;
  /** Points upserted from pgvector values, and rows whose qdrant_point_id was written. */
  migrated: number;
  /** Rows embedded again because `reembedMissing` was set. */
  reembedded: number;
  /** The model of every point this run wrote (the collection's). */
  model: string;
  /** Rows excluded by `skipMissing` (this run and earlier ones): they have no point. */
  skipped: UnusableSummary;
  /**
   * `qdrant_point_id` rows written in one statement at the end of the pass; 0 with `pointIdsDeferred`
   * (an index uses the pgvector column: the cutover writes them after dropping it).
   */
  pointIdsWritten: number;
  pointIdsDeferred: boolean;
  /** Indexes that use the pgvector column (they decide `pointIdsDeferred`). */
  vectorIndexes: string[];
  /** Rows left without a point, listed for re-embedding (after `reembedMissing`, what is still left). */
  unusable: UnusableSummary;
  /** Stopped by the signal before the pass completed; run again to resume. */
  interrupted: boolean;
  completed: boolean;
  batches: number;
  rowsPerSecond: number;
  timings: PhaseTimings;
  /** `embedder.embed` calls made (zero unless `reembedMissing` found rows). */
  embedderCalls: number;
}

/**
 * Carries every usable pgvector value into Qdrant without embedding anything: keyset pages of rows
 * that have no point yet, decoded from pgvector's binary format, upserted with the id of the row and
 * the point the service builds (`pointOf`: payload and sparse lexical vector), then `qdrant_point_id` and the checkpoint are written
 * back in one transaction. An interrupted pass resumes after its checkpoint; a second run finds no
 * rows without points except the unusable ones, and writes nothing.
 */
export async function migratePgvector(deps: MigrateDeps, options: MigrateOptions): Promise<MigrateReport> {
  const { pool, vectors, logger } = deps;
  const progress = deps.progress ?? silentProgress;
  const table = options.table ?? DEFAULT_TABLE;
  const column = options.column ?? DEFAULT_COLUMN;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const upsertBatchSize = options.upsertBatchSize ?? DEFAULT_UPSERT_BATCH_SIZE;
  const upsertConcurrency = options.upsertConcurrency ?? DEFAULT_UPSERT_CONCURRENCY;
  const { dimensions } = options;
  if (options.reembedMissing && options.skipMissing) {
    throw new FailedPreconditionError("choose --reembed-missing or --skip-missing, not both");
  }
  if (options.reembedMissing && deps.embedder === undefined) {
    throw new FailedPreconditionError("re-embedding missing vectors needs an embedder");
  }
  if (options.reembedMissing && deps.embedder !== undefined && deps.embedder.dimensions !== dimensions) {
    throw new FailedPreconditionError(
      `the embedder makes ${deps.embedder.dimensions}-dimensional vectors but the collection holds ${dimensions}`,
    );
  }

  const source = await inspectSourceTable(pool, table, column);
  requireMigratable(source);
  const model = options.model ?? (await collectionModel(pool, source));
  await requireOneModel(pool, source, model);
  if (options.reembedMissing && deps.embedder !== undefined && deps.embedder.model !== model) {
    throw new FailedPreconditionError(reembedModelMessage(model, deps.embedder.model));
  }
  const { kind, columnType } = source.vector;
  if (source.vector.declaredDimensions !== undefined && source.vector.declaredDimensions !== dimensions) {
    logger.warn(
      { columnType, dimensions },
      "the column's declared dimension differs from EMBEDDING_DIMENSIONS: every row will be reported as wrong_dimension",
    );
  }

  const started = performance.now();
  const timings: PhaseTimings = { readMs: 0, decodeMs: 0, upsertMs: 0, writeBackMs: 0, embedMs: 0, totalMs: 0 };
  const state = await readState(pool, table);
  const resumed = state !== null && state.passStartedAt !== null && state.passCompletedAt === null;
  let afterId = resumed ? (state.lastId ?? undefined) : undefined;
  if (resumed) {
    logger.info(
      { table, afterId: afterId ?? null, rowsMigrated: state.rowsMigrated },
      "resuming the interrupted pass after its checkpoint",
    );
  } else {
    await startPass(pool, table, column, columnType);
  }
  if (!(await analyzeTable(pool, source))) {
    logger.warn(
      { table },
      "could not ANALYZE the source table (not its owner?): paging may be slow on a table never analyzed",
    );
  }
  const total = await countUnmigrated(pool, source, afterId);

  let scanned = 0;
  let migrated = 0;
  let batches = 0;
  let interrupted = false;
  progress.start(`migrating ${table}`, total);
  // Pipelined: the next page is read while this one is upserted (it only depends on the last id).
  const read = (after: string | undefined) => {
    const mark = performance.now();
    return readSourcePage(pool, source, after, batchSize).then((rows) => {
      timings.readMs += performance.now() - mark;
      return rows;
    });
  };
  const prefetch = options.prefetch ?? true;
  let pending: Promise<readonly SourceRow[]> | undefined;
  try {
    for (;;) {
      if (options.signal?.aborted) {
        interrupted = true;
        break;
      }
      const rows = await (pending ?? read(afterId));
      pending = undefined;
      if (rows.length === 0) {
        await completePass(pool, table);
        break;
      }
      const lastId = rows[rows.length - 1].id;
      if (prefetch) {
        pending = read(lastId);
        // Awaited next turn; until then a failure must not surface as an unhandled rejection.
        pending.catch(() => undefined);
      }

      let mark = performance.now();
      const points: VectorPoint[] = [];
      for (const row of rows) {
        const classified = classifyVector(row.vector, kind, dimensions);
        if (classified.ok) {
          points.push(pointOf(toRowInput(row), classified.vector));
        }
      }
      timings.decodeMs += performance.now() - mark;

      mark = performance.now();
      await upsertChunks(vectors, points, upsertBatchSize, upsertConcurrency);
      timings.upsertMs += performance.now() - mark;

      // Only now, with Qdrant holding the points, does the side table say so; a crash before this
      // commit leaves them unrecorded and the next run upserts them again (same id, same payload).
      // The old table is not written here: see recordMoved.
      mark = performance.now();
      await pool.transaction(async (tx) => {
        await recordMoved(
          tx,
          source,
          points.map((point) => point.id),
          "pgvector",
        );
        await recordBatch(tx, table, lastId, points.length);
      });
      timings.writeBackMs += performance.now() - mark;

      afterId = lastId;
      scanned += rows.length;
      migrated += points.length;
      batches++;
      progress.update(scanned);
      options.onBatch?.({ index: batches, rows: rows.length, migrated: points.length, lastId });
    }
  } finally {
    progress.stop();
    // A prefetched page nobody will use (interrupted or failed run).
    await pending?.catch(() => undefined);
  }

  let reembedded = 0;
  let embedderCalls = 0;
  if (!interrupted && options.reembedMissing && deps.embedder !== undefined) {
    const mark = performance.now();
    ({ reembedded, embedderCalls } = await reembedMissing(
      { pool, vectors, embedder: deps.embedder, logger, progress },
      source,
      dimensions,
      upsertBatchSize,
      options.signal,
    ));
    timings.embedMs = performance.now() - mark;
  }
  if (!interrupted && options.skipMissing) {
    await skipUnusable(pool, source, dimensions);
  }

  // qdrant_point_id: one set-based statement, unless an index on the vector column would make every
  // row an index insert; then the cutover writes it, once that column and its indexes are gone.
  const vectorIndexes = (await columnIndexes(pool, table, column)).map((index) => index.name);
  const pointIdsDeferred = vectorIndexes.length > 0;
  let pointIdsWritten = 0;
  if (!interrupted && !pointIdsDeferred) {
    const mark = performance.now();
    pointIdsWritten = await writeBackPointIds(pool, source);
    timings.writeBackMs += performance.now() - mark;
  }

  const listLimit = options.listLimit ?? DEFAULT_LIST_LIMIT;
  const unusable = await listUnusable(pool, source, dimensions, listLimit);
  const skipped = await listUnusable(pool, source, dimensions, listLimit, "skipped");
  timings.totalMs = performance.now() - started;
  const report: MigrateReport = {
    table,
    column,
    columnType,
    dimensions,
    resumed,
    resumedAfterId: resumed ? (state?.lastId ?? null) : null,
    scanned,
    migrated,
    reembedded,
    model,
    skipped,
    pointIdsWritten,
    pointIdsDeferred,
    vectorIndexes,
    unusable,
    interrupted,
    completed: !interrupted,
    batches,
    rowsPerSecond: timings.totalMs > 0 ? (scanned * 1000) / timings.totalMs : 0,
    timings,
    embedderCalls,
  };
  for (const row of unusable.rows) {
    logger.warn(
      { id: row.id, catalogId: row.catalogId, reason: row.reason, dimensions: row.dimensions },
      "row left for re-embedding",
    );
  }
  logger.info(
    {
      table,
      migrated,
      scanned,
      reembedded,
      nullVector: unusable.nullVector,
      wrongDimension: unusable.wrongDimension,
      interrupted,
      rowsPerSecond: Math.round(report.rowsPerSecond),
    },
    interrupted ? "migration interrupted: run again to resume" : "migration pass complete",
  );
  return report;
}

/** Upserts the points in chunks, `concurrency` chunks in flight; rejects with the first failure. */
async function upsertChunks(
  vectors: VectorStore,
  points: readonly VectorPoint[],
  size: number,
  concurrency: number,
): Promise<void> {
  const chunks: VectorPoint[][] = [];
  for (let start = 0; start < points.length; start += size) {
    chunks.push(points.slice(start, start + size));
  }
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++];
      await vectors.upsert(chunk);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, worker));
}

const countSchema = z.object({ count: z.number() });

async function countUnmigrated(
  connection: CommonQueryMethods,
  source: SourceTable,
  afterId: string | undefined,
): Promise<number> {
  const after = afterId === undefined ? sql.fragment`TRUE` : sql.fragment`id > ${afterId}::uuid`;
  return query("counting source rows", () =>
    connection.oneFirst(sql.type(countSchema)`
      SELECT count(*)::int AS count FROM ${tableIdentifier(source)} WHERE ${unhandledCondition(source, afterId)} AND ${after}
    `),
  );
}

const modelSchema = z.object({ model: z.string() });

/**
 * The model that made the source table's vectors: what its rows record (`npm run migrate` sets the
 * existing deployment's model on old rows). More than one is refused: one collection, one model.
 */
export async function collectionModel(connection: CommonQueryMethods, source: SourceTable): Promise<string> {
  const models = await query("reading the rows' model", () =>
    connection.anyFirst(sql.type(modelSchema)`
      SELECT DISTINCT model FROM ${tableIdentifier(source)} WHERE model IS NOT NULL ORDER BY model LIMIT 5
    `),
  );
  if (models.length > 1) {
    throw new FailedPreconditionError(
      `the rows of ${source.table} record ${models.length === 5 ? "5 or more" : models.length} embedding models (${models.join(", ")}): one collection holds one model's vectors; re-embed or remove the others first`,
    );
  }
  return models[0] ?? DEFAULT_SOURCE_MODEL;
}

/** The model old rows get from `npm run migrate` (the existing deployment's). */
export const DEFAULT_SOURCE_MODEL = "text-embedding-3-large";

/** Refuses rows still to move whose recorded model is not the collection's. */
async function requireOneModel(connection: CommonQueryMethods, source: SourceTable, model: string): Promise<void> {
  const others = await query("checking the rows' model", () =>
    connection.anyFirst(sql.type(modelSchema)`
      SELECT DISTINCT model FROM ${tableIdentifier(source)} WHERE model IS DISTINCT FROM ${model} AND ${unhandledCondition(source)} LIMIT 5
    `),
  );
  if (others.length > 0) {
    throw new FailedPreconditionError(
      `rows of ${source.table} record the model ${others.join(", ")} but the collection holds ${model} vectors: one collection holds one model's vectors`,
    );
  }
}

/** The one line `--reembed-missing` fails with when the configured embedder is not the collection's model. */
export function reembedModelMessage(model: string, embedderModel: string): string {
  return `--reembed-missing would embed with ${embedderModel} into a collection of ${model} vectors: set OPENAI_API_KEY and EMBEDDING_MODEL=${model}, or use --skip-missing to leave those rows out`;
}

const unusableSchema = z.object({ id: z.string(), catalogId: z.string(), dimensions: z.number().nullable() });

/**
 * Rows whose vector is null or of another dimension: counted, and the first `limit` listed. `left`:
 * those the migration has not handled (no point, not skipped); `skipped`: those --skip-missing
 * excluded; `all`: every such row (dry run before the schema migration).
 */
export async function listUnusable(
  connection: CommonQueryMethods,
  source: SourceTable,
  dimensions: number,
  limit: number,
  scope: "left" | "skipped" | "all" = "left",
): Promise<UnusableSummary> {
  const vectorColumn = columnIdentifier(source);
  const notMigrated =
    scope === "left" ? unhandledCondition(source) : scope === "skipped" ? skippedCondition(source) : sql.fragment`TRUE`;
  const counts = await query("counting unusable vectors", () =>
    connection.one(sql.type(z.object({ nullVector: z.number(), wrongDimension: z.number() }))`
      SELECT
        count(*) FILTER (WHERE ${vectorColumn} IS NULL)::int AS "nullVector",
        count(*) FILTER (WHERE ${vectorColumn} IS NOT NULL AND vector_dims(${vectorColumn}) <> ${dimensions})::int AS "wrongDimension"
      FROM ${tableIdentifier(source)}
      WHERE ${notMigrated}
    `),
  );
  const rows = await query("listing unusable vectors", () =>
    connection.any(sql.type(unusableSchema)`
      SELECT id, catalog_id AS "catalogId", vector_dims(${vectorColumn}) AS dimensions
      FROM ${tableIdentifier(source)}
      WHERE ${notMigrated} AND ${unusableCondition(source, dimensions)}
      ORDER BY id
      LIMIT ${limit}
    `),
  );
  return {
    nullVector: counts.nullVector,
    wrongDimension: counts.wrongDimension,
    rows: rows.map((row) => ({ ...row, reason: row.dimensions === null ? "null_vector" : "wrong_dimension" })),
    truncated: counts.nullVector + counts.wrongDimension > rows.length,
  };
}

/**
 * Embeds the content of the rows whose vector is unusable (and only those), upserts their points and
 * writes back `qdrant_point_id` and the embedder's model, as the service records a vector it computed.
 */
async function reembedMissing(
  deps: { pool: DatabasePool; vectors: VectorStore; embedder: Embedder; logger: Logger; progress: ProgressReporter },
  source: SourceTable & { vector: NonNullable<SourceTable["vector"]> },
  dimensions: number,
  batchSize: number,
  signal: AbortSignal | undefined,
): Promise<{ reembedded: number; embedderCalls: number }> {
  const { pool, vectors, embedder, logger, progress } = deps;
  const counts = await listUnusable(pool, source, dimensions, 0, "left");
  const skippedBefore = await listUnusable(pool, source, dimensions, 0, "skipped");
  const total = counts.nullVector + counts.wrongDimension + skippedBefore.nullVector + skippedBefore.wrongDimension;
  let afterId: string | undefined;
  let reembedded = 0;
  let embedderCalls = 0;
  progress.start(`re-embedding ${source.table}`, total);
  try {
    while (!signal?.aborted) {
      const rows = await readSourcePage(pool, source, afterId, batchSize, { onlyUnusableOf: dimensions });
      if (rows.length === 0) {
        break;
      }
      const embedded = await embedder.embed(
        rows.map((row) => ({ id: row.id, text: row.content })),
        { signal },
      );
      embedderCalls++;
      const points: VectorPoint[] = rows.map((row, index) =>
        pointOf({ ...toRowInput(row), model: embedder.model }, embedded[index]),
      );
      await vectors.upsert(points);
      // The row itself keeps its (null or wrong-sized) value: rollback puts NULL back from `origin`.
      await pool.transaction(async (tx) => {
        await recordMoved(
          tx,
          source,
          points.map((point) => point.id),
          "reembedded",
        );
        await invalidateVerify(tx, source.table);
      });
      afterId = rows[rows.length - 1].id;
      reembedded += rows.length;
      progress.update(reembedded);
    }
  } finally {
    progress.stop();
  }
  logger.info(
    { table: source.table, reembedded, model: embedder.model },
    "re-embedded the rows whose vector was missing or of the wrong dimension",
  );
  return { reembedded, embedderCalls };
}

/**
 * --skip-missing: records every unusable row still without a point as `skipped`, in one statement.
 * They stay in Postgres without a point (the service does not find them) and are listed in the
 * report; verification counts them apart, so the cutover can go ahead without re-embedding them.
 */
async function skipUnusable(pool: DatabasePool, source: SourceTable, dimensions: number): Promise<void> {
  await pool.transaction(async (tx) => {
    await query("recording skipped rows", () =>
      tx.query(sql.type(NO_ROWS)`
        INSERT INTO dq_pgvector_moved (source_table, id, origin)
        SELECT ${source.table}, id, 'skipped' FROM ${tableIdentifier(source)}
        WHERE ${unhandledCondition(source)} AND ${unusableCondition(source, dimensions)}
        ON CONFLICT (source_table, id) DO NOTHING
      `),
    );
    await invalidateVerify(tx, source.table);
  });
}
