import pMap from "p-map";
import type { Logger } from "pino";
import { sql, type CommonQueryMethods, type DatabasePool } from "slonik";
import { z } from "zod";
import { FailedPreconditionError } from "../core/errors.js";
import { pointOf } from "../core/points.js";
import { mapInSlices } from "../core/slices.js";
import type { Embedder } from "../embedders/embedder.js";
import type { VectorPoint, VectorStore } from "../stores/vector-store.js";
import { completePass, readState, recordBatch, startPass } from "./migration-state.js";
import { createPhaseTimer, type PhaseTimer } from "./phase-timer.js";
import { silentProgress, type ProgressReporter } from "./progress.js";
import { collectionModel, reembedModelMessage, requireOneModel } from "./source-model.js";
import {
  analyzeTable,
  classifyVector,
  columnIndexes,
  DEFAULT_COLUMN,
  DEFAULT_LIST_LIMIT,
  DEFAULT_TABLE,
  inspectSourceTable,
  query,
  readSourcePage,
  recordMoved,
  requireMigratable,
  tableIdentifier,
  toRowInput,
  unhandledCondition,
  writeBackPointIds,
  type MigratableSource,
  type SourceOptions,
  type SourceRow,
} from "./source-table.js";
import { listUnusable, reembedMissing, skipUnusable, type UnusableSummary } from "./unusable-rows.js";
import { decodePgvectorInPlace } from "./vector-codec.js";

/** Rows read from Postgres per keyset page. */
export const DEFAULT_BATCH_SIZE = 512;
/**
 * Points per Qdrant upsert: two upserts per default page. Vectors travel as bytes (qdrant-wire/),
 * so a message's size costs little to decode; what a smaller one costs is the call itself, on both
 * sides: 64-point upserts took ~40 us more CPU per row in the command than 256-point ones (measured
 * on 20,000 3072-d rows; 512 saved ~15 us more but leaves one upsert per page, nothing to overlap).
 * 256 x 12 KiB is ~3 MiB, half of what ingest's 512-point store batches send.
 */
export const DEFAULT_UPSERT_BATCH_SIZE = 256;
/** Rows embedded per call (and upserted) by `reembedMissing` unless `upsertBatchSize` is given. */
export const DEFAULT_REEMBED_BATCH_SIZE = 64;
/** Upserts in flight at once: the client encodes one while Qdrant decodes another. */
export const DEFAULT_UPSERT_CONCURRENCY = 2;

export interface MigrateDeps {
  pool: DatabasePool;
  vectors: VectorStore;
  logger: Logger;
  progress?: ProgressReporter;
  /** Needed only with `reembedMissing`. */
  embedder?: Embedder;
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

type Phase = "read" | "decode" | "upsert" | "writeBack" | "embed";

/** What one run of the pass did (`copyVectors`). */
interface PassOutcome {
  scanned: number;
  migrated: number;
  batches: number;
  interrupted: boolean;
}

/**
 * Carries every usable pgvector value into Qdrant without embedding anything: keyset pages of rows
 * that have no point yet, decoded from pgvector's binary format, upserted with the id of the row and
 * the point the service builds (`pointOf`: payload and sparse lexical vector), then recorded in the
 * side table with the checkpoint, in one transaction. An interrupted pass resumes after its
 * checkpoint; a second run finds no rows without points except the unusable ones, and writes nothing.
 */
export async function migratePgvector(deps: MigrateDeps, options: MigrateOptions): Promise<MigrateReport> {
  const { pool, logger } = deps;
  const table = options.table ?? DEFAULT_TABLE;
  const column = options.column ?? DEFAULT_COLUMN;
  const { dimensions } = options;
  const embedder = requireReembedSetup(deps.embedder, options);
  const source = await inspectSourceTable(pool, table, column);
  requireMigratable(source);
  const model = options.model ?? (await collectionModel(pool, source));
  await requireOneModel(pool, source, model);
  if (embedder !== undefined && embedder.model !== model) {
    throw new FailedPreconditionError(reembedModelMessage(model, embedder.model));
  }
  if (source.vector.declaredDimensions !== undefined && source.vector.declaredDimensions !== dimensions) {
    logger.warn(
      { columnType: source.vector.columnType, dimensions },
      "the column's declared dimension differs from EMBEDDING_DIMENSIONS: every row will be reported as wrong_dimension",
    );
  }

  const started = performance.now();
  const timer = createPhaseTimer<Phase>(["read", "decode", "upsert", "writeBack", "embed"]);
  const start = await startOrResumePass(pool, source, logger);
  if (!(await analyzeTable(pool, source))) {
    logger.warn(
      { table },
      "could not ANALYZE the source table (not its owner?): paging may be slow on a table never analyzed",
    );
  }
  const pass = await copyVectors(deps, source, options, timer, start.afterId);

  let reembedded = { reembedded: 0, embedderCalls: 0 };
  let pointIdsWritten = 0;
  // qdrant_point_id: one set-based statement, unless an index on the vector column would make every
  // row an index insert; then the cutover writes it, once that column and its indexes are gone.
  const vectorIndexes = (await columnIndexes(pool, table, column)).map((index) => index.name);
  if (!pass.interrupted) {
    if (embedder !== undefined) {
      const reembedDeps = { ...deps, embedder, progress: deps.progress ?? silentProgress };
      const upsertBatchSize = options.upsertBatchSize ?? DEFAULT_REEMBED_BATCH_SIZE;
      reembedded = await timer.time("embed", () =>
        reembedMissing(reembedDeps, source, dimensions, upsertBatchSize, options.signal),
      );
    }
    if (options.skipMissing) {
      await skipUnusable(pool, source, dimensions);
    }
    if (vectorIndexes.length === 0) {
      pointIdsWritten = await timer.time("writeBack", () => writeBackPointIds(pool, source));
    }
  }

  const listLimit = options.listLimit ?? DEFAULT_LIST_LIMIT;
  const totalMs = performance.now() - started;
  const { read, decode, upsert, writeBack, embed } = timer.totals;
  const report: MigrateReport = {
    table,
    column,
    columnType: source.vector.columnType,
    dimensions,
    resumed: start.resumed,
    resumedAfterId: start.afterId ?? null,
    scanned: pass.scanned,
    migrated: pass.migrated,
    reembedded: reembedded.reembedded,
    model,
    skipped: await listUnusable(pool, source, dimensions, listLimit, "skipped"),
    pointIdsWritten,
    pointIdsDeferred: vectorIndexes.length > 0,
    vectorIndexes,
    unusable: await listUnusable(pool, source, dimensions, listLimit),
    interrupted: pass.interrupted,
    completed: !pass.interrupted,
    batches: pass.batches,
    rowsPerSecond: totalMs > 0 ? (pass.scanned * 1000) / totalMs : 0,
    timings: { readMs: read, decodeMs: decode, upsertMs: upsert, writeBackMs: writeBack, embedMs: embed, totalMs },
    embedderCalls: reembedded.embedderCalls,
  };
  logReport(logger, report);
  return report;
}

/** The embedder `reembedMissing` will use (undefined without it), after checking the options agree. */
function requireReembedSetup(embedder: Embedder | undefined, options: MigrateOptions): Embedder | undefined {
  if (options.reembedMissing && options.skipMissing) {
    throw new FailedPreconditionError("choose --reembed-missing or --skip-missing, not both");
  }
  if (!options.reembedMissing) {
    return undefined;
  }
  if (embedder === undefined) {
    throw new FailedPreconditionError("re-embedding missing vectors needs an embedder");
  }
  if (embedder.dimensions !== options.dimensions) {
    throw new FailedPreconditionError(
      `the embedder makes ${embedder.dimensions}-dimensional vectors but the collection holds ${options.dimensions}`,
    );
  }
  return embedder;
}

/** Continues an interrupted pass from its checkpoint, or starts a new one. */
async function startOrResumePass(
  pool: DatabasePool,
  source: MigratableSource,
  logger: Logger,
): Promise<{ resumed: boolean; afterId: string | undefined }> {
  const state = await readState(pool, source.table);
  if (state !== null && state.passStartedAt !== null && state.passCompletedAt === null) {
    logger.info(
      { table: source.table, afterId: state.lastId, rowsMigrated: state.rowsMigrated },
      "resuming the interrupted pass after its checkpoint",
    );
    return { resumed: true, afterId: state.lastId ?? undefined };
  }
  await startPass(pool, source.table, source.column, source.vector.columnType);
  return { resumed: false, afterId: undefined };
}

/**
 * The pass: each page of rows without a point is decoded, upserted in chunks (several in flight), then
 * recorded with its checkpoint in one transaction. With `prefetch` the next page is read meanwhile.
 */
async function copyVectors(
  deps: MigrateDeps,
  source: MigratableSource,
  options: MigrateOptions,
  timer: PhaseTimer<Phase>,
  afterId: string | undefined,
): Promise<PassOutcome> {
  const { pool, vectors } = deps;
  const progress = deps.progress ?? silentProgress;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const upsertBatchSize = options.upsertBatchSize ?? DEFAULT_UPSERT_BATCH_SIZE;
  const concurrency = options.upsertConcurrency ?? DEFAULT_UPSERT_CONCURRENCY;
  const outcome: PassOutcome = { scanned: 0, migrated: 0, batches: 0, interrupted: false };
  // A page is read and decoded together: prefetched, the next page is ready (points built) by the
  // time this one is checkpointed, and its upserts start at once.
  const pages = createPageReader(
    async (after) => {
      const rows = await timer.time("read", () => readSourcePage(pool, source, after, batchSize));
      const points = await timer.time("decode", () => toPoints(rows, source, options.dimensions));
      return { rows, points };
    },
    afterId,
    options.prefetch ?? true,
  );
  progress.start(`migrating ${source.table}`, await countUnmigrated(pool, source, afterId));
  try {
    for (;;) {
      if (options.signal?.aborted) {
        outcome.interrupted = true;
        break;
      }
      const { rows, points } = await pages.next();
      if (rows.length === 0) {
        break;
      }
      const lastId = rows[rows.length - 1].id;
      await timer.time("upsert", () =>
        pMap(chunks(points, upsertBatchSize), (chunk) => vectors.upsert(chunk), { concurrency }),
      );
      // Only now, with Qdrant holding the points, does the side table say so; a crash before this
      // commit leaves them unrecorded and the next run upserts them again (same id, same payload).
      // The old table is not written here: see recordMoved.
      await timer.time("writeBack", () =>
        pool.transaction(async (tx) => {
          await recordMoved(
            tx,
            source,
            points.map((point) => point.id),
            "pgvector",
          );
          await recordBatch(tx, source.table, lastId, points.length);
        }),
      );
      outcome.scanned += rows.length;
      outcome.migrated += points.length;
      outcome.batches++;
      progress.update(outcome.scanned);
      options.onBatch?.({ index: outcome.batches, rows: rows.length, migrated: points.length, lastId });
    }
  } finally {
    progress.stop();
    await pages.close();
  }
  if (!outcome.interrupted) {
    await completePass(pool, source.table);
  }
  return outcome;
}

/**
 * Keyset pages in id order, an empty one at the end. With `prefetch` the next page is requested as
 * soon as one is handed out (it depends only on that page's last id), so reading overlaps the work
 * on it.
 */
function createPageReader<Page extends { rows: readonly SourceRow[] }>(
  read: (afterId: string | undefined) => Promise<Page>,
  afterId: string | undefined,
  prefetch: boolean,
) {
  let pending: Promise<Page> | undefined;
  return {
    async next(): Promise<Page> {
      const page = await (pending ?? read(afterId));
      pending = undefined;
      const { rows } = page;
      if (rows.length > 0) {
        afterId = rows[rows.length - 1].id;
        if (prefetch) {
          pending = read(afterId);
          // Awaited by the next call; until then (or if nobody calls) its failure must not go unhandled.
          pending.catch(() => undefined);
        }
      }
      return page;
    },
    /** Waits out a prefetched page nobody will use (an interrupted or failed run). */
    async close(): Promise<void> {
      await pending?.catch(() => undefined);
    },
  };
}

/**
 * The points of the rows whose vector is usable; the others are left for the unusable-row handling.
 * Each vector is decoded where pg put it (the row's bytes are not read again), and the page is done a
 * slice at a time, so the upserts in flight meanwhile are sent and answered without waiting for it.
 */
async function toPoints(
  rows: readonly SourceRow[],
  source: MigratableSource,
  dimensions: number,
): Promise<VectorPoint[]> {
  const points = await mapInSlices(rows, (row) => {
    const classified = classifyVector(row.vector, source.vector.kind, dimensions, decodePgvectorInPlace);
    return classified.ok ? pointOf(toRowInput(row), classified.vector) : undefined;
  });
  return points.filter((point) => point !== undefined);
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) {
    result.push(items.slice(start, start + size));
  }
  return result;
}

function logReport(logger: Logger, report: MigrateReport): void {
  for (const row of report.unusable.rows) {
    logger.warn(
      { id: row.id, catalogId: row.catalogId, reason: row.reason, dimensions: row.dimensions },
      "row left for re-embedding",
    );
  }
  logger.info(
    {
      table: report.table,
      migrated: report.migrated,
      scanned: report.scanned,
      reembedded: report.reembedded,
      nullVector: report.unusable.nullVector,
      wrongDimension: report.unusable.wrongDimension,
      interrupted: report.interrupted,
      rowsPerSecond: Math.round(report.rowsPerSecond),
    },
    report.interrupted ? "migration interrupted: run again to resume" : "migration pass complete",
  );
}

const countSchema = z.object({ count: z.number() });

async function countUnmigrated(
  connection: CommonQueryMethods,
  source: MigratableSource,
  afterId: string | undefined,
): Promise<number> {
  const after = afterId === undefined ? sql.fragment`TRUE` : sql.fragment`id > ${afterId}::uuid`;
  return query("counting source rows", () =>
    connection.oneFirst(sql.type(countSchema)`
      SELECT count(*)::int AS count FROM ${tableIdentifier(source)} WHERE ${unhandledCondition(source, afterId)} AND ${after}
    `),
  );
}
