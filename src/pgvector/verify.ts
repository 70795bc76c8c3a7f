import type { Logger } from "pino";
import { sql, type DatabasePool, type SerializableValue } from "slonik";
import { z } from "zod";
import { payloadOf, samePayload } from "../core/points.js";
import { EMBEDDING_STATUSES } from "../core/types.js";
import type { VectorStore } from "../stores/vector-store.js";
import { recordVerify } from "./migration-state.js";
import { silentProgress, type ProgressReporter } from "./progress.js";
import { collectionModel } from "./source-model.js";
import {
  classifyVector,
  DEFAULT_COLUMN,
  DEFAULT_LIST_LIMIT,
  DEFAULT_TABLE,
  type MigratableSource,
  type SourceOptions,
  movedCondition,
  skippedCondition,
  columnIdentifier,
  inspectSourceTable,
  NO_ROWS,
  query,
  readSourcePage,
  requireMigratable,
  tableIdentifier,
  toRowInput,
} from "./source-table.js";
import { normalizedMaxDifference, recall } from "./vector-math.js";

export interface VerifyDeps {
  pool: DatabasePool;
  vectors: VectorStore;
  logger: Logger;
  progress?: ProgressReporter;
}

export interface VerifyOptions extends SourceOptions {
  /** Rows whose neighbours are compared (default 50). */
  sampleSize?: number;
  /** Neighbours compared per sample (default 10). */
  k?: number;
  /** Mean recall@k required (default 0.99). */
  minRecall?: number;
  /** Largest difference allowed between the normalized vectors, per component (default 1e-5). */
  tolerance?: number;
  batchSize?: number;
  listLimit?: number;
  /** Chooses the sample; the same seed samples the same rows. */
  seed?: string;
  /** The collection's model: every point must have been made by it. Default: the rows' model. */
  model?: string;
}

export interface CatalogCount {
  catalogId: string;
  rows: number;
  points: number;
}

export interface VerifyReport {
  table: string;
  column: string;
  columnType: string;
  dimensions: number;
  verifiedAt: string;
  passed: boolean;
  /** One sentence per failed check; empty when `passed`. */
  failures: string[];
  catalogs: { checked: number; mismatched: CatalogCount[] };
  /** The collection's model, and the points whose payload names another (every point is checked). */
  model: { expected: string; mismatches: number; mismatchIds: string[] };
  rows: {
    total: number;
    /** Rows excluded by --skip-missing: no point expected; listed so they can be re-embedded later. */
    excluded: number;
    excludedIds: string[];
    /** Rows without a point, with the reason when their pgvector value is unusable. */
    missingPoints: number;
    missingPointIds: string[];
    /** How many of the rows without a point have a null or wrong-dimension pgvector value. */
    unusableMissingPoints: number;
    payloadMismatches: number;
    payloadMismatchIds: string[];
    /** Rows whose vector (normalized) differs from the point's by more than the tolerance. */
    vectorMismatches: number;
    vectorMismatchIds: string[];
    vectorsCompared: number;
    /** The largest per-component difference seen between normalized vectors. */
    maxDifference: number;
    tolerance: number;
  };
  neighbours: {
    k: number;
    samples: number;
    meanRecall: number;
    worstRecall: number;
    required: number;
    /** Samples whose recall was below 1. */
    imperfect: Array<{ id: string; catalogId: string; recall: number }>;
  };
}

const countSchema = z.object({ catalogId: z.string(), rows: z.number() });
const sampleSchema = z.object({ id: z.string(), catalogId: z.string() });
const idSchema = z.object({ id: z.string() });

/** A count and the first `limit` ids counted: what a report lists of each kind of mismatch. */
class CountedIds {
  count = 0;
  readonly ids: string[] = [];
  constructor(private readonly limit: number) {}
  add(id: string): void {
    this.count++;
    if (this.ids.length < this.limit) this.ids.push(id);
  }
}

/**
 * Checks, before cutover, that Qdrant holds what pgvector holds: per-catalog counts, a point for every
 * row with the payload the service would write, equal vectors (normalized: cosine collections store
 * unit vectors), and, for a sample of rows, Qdrant's top-k neighbours within the catalog against
 * pgvector's exact top-k (`<=>`, index scans off). Records the outcome for `--cutover` to check.
 */
export async function verifyPgvectorMigration(deps: VerifyDeps, options: VerifyOptions): Promise<VerifyReport> {
  const { pool, logger } = deps;
  const table = options.table ?? DEFAULT_TABLE;
  const column = options.column ?? DEFAULT_COLUMN;
  const { dimensions } = options;
  const k = options.k ?? 10;
  const required = options.minRecall ?? 0.99;
  const tolerance = options.tolerance ?? 1e-5;
  const listLimit = options.listLimit ?? DEFAULT_LIST_LIMIT;
  const source = await inspectSourceTable(pool, table, column);
  requireMigratable(source);
  const model = options.model ?? (await collectionModel(pool, source));

  const counts = await compareCounts(deps, source, model, listLimit);
  const rows = await compareRows(deps, source, {
    dimensions,
    tolerance,
    listLimit,
    batchSize: options.batchSize ?? 256,
    expectedRows: counts.rows,
  });
  const neighbours = await compareNeighbours(pool, deps.vectors, source, {
    dimensions,
    k,
    sampleSize: options.sampleSize ?? 50,
    seed: options.seed ?? "dq-pgvector-verify",
  });

  const failures = [
    ...(counts.model.mismatches > 0
      ? [
          `${counts.model.mismatches} point(s) were made by another model than the collection's ${model}: re-embed them with ${model}`,
        ]
      : []),
    ...(counts.mismatched.length > 0
      ? [`${counts.mismatched.length} catalog(s) have a different number of rows and points`]
      : []),
    ...rowFailures(rows),
    ...(neighbours.samples > 0 && neighbours.meanRecall < required
      ? [`mean recall@${k} is ${neighbours.meanRecall.toFixed(4)}, below the required ${required}`]
      : []),
  ];
  const report: VerifyReport = {
    table,
    column,
    columnType: source.vector.columnType,
    dimensions,
    verifiedAt: new Date().toISOString(),
    passed: failures.length === 0,
    failures,
    catalogs: { checked: counts.catalogs, mismatched: counts.mismatched.slice(0, listLimit) },
    model: counts.model,
    rows,
    neighbours: { ...neighbours, required },
  };
  await recordVerify(pool, table, column, report.passed, report as unknown as SerializableValue);
  logger.info(
    { table, passed: report.passed, failures },
    report.passed ? "verification passed" : "verification FAILED",
  );
  return report;
}

/**
 * Check 1: rows per catalog in Postgres (those --skip-missing excluded aside) against points per
 * catalog in Qdrant, and every point's model against the collection's.
 */
async function compareCounts(
  deps: VerifyDeps,
  source: MigratableSource,
  model: string,
  listLimit: number,
): Promise<{ rows: number; catalogs: number; mismatched: CatalogCount[]; model: VerifyReport["model"] }> {
  const rowCounts = await query("counting rows per catalog", () =>
    deps.pool.any(sql.type(countSchema)`
      SELECT catalog_id AS "catalogId", count(*)::int AS rows FROM ${tableIdentifier(source)} WHERE NOT ${skippedCondition(source)} GROUP BY catalog_id
    `),
  );
  const catalogs = new Map<string, CatalogCount>(
    rowCounts.map(({ catalogId, rows }) => [catalogId, { catalogId, rows, points: 0 }]),
  );
  const otherModel = new CountedIds(listLimit);
  for (let afterId: string | undefined, first = true; first || afterId !== undefined; first = false) {
    const page = await deps.vectors.scroll({ afterId, limit: 1_000 });
    for (const point of page.points) {
      const catalogId = point.payload.catalog_id;
      const entry = catalogs.get(catalogId) ?? { catalogId, rows: 0, points: 0 };
      entry.points++;
      catalogs.set(catalogId, entry);
      if (point.payload.model !== model) otherModel.add(point.id);
    }
    afterId = page.nextId;
  }
  return {
    rows: rowCounts.reduce((sum, entry) => sum + entry.rows, 0),
    catalogs: catalogs.size,
    mismatched: [...catalogs.values()].filter((entry) => entry.rows !== entry.points),
    model: { expected: model, mismatches: otherModel.count, mismatchIds: otherModel.ids },
  };
}

/** Check 2: every row has its point, with the service's payload and the same vector. */
async function compareRows(
  deps: VerifyDeps,
  source: MigratableSource,
  options: { dimensions: number; tolerance: number; listLimit: number; batchSize: number; expectedRows: number },
): Promise<VerifyReport["rows"]> {
  const { pool, vectors } = deps;
  const progress = deps.progress ?? silentProgress;
  const { dimensions, tolerance, listLimit } = options;
  const excluded = new CountedIds(listLimit);
  const missing = new CountedIds(listLimit);
  const payloadMismatch = new CountedIds(listLimit);
  const vectorMismatch = new CountedIds(listLimit);
  let unusableMissing = 0;
  let compared = 0;
  let maxDifference = 0;
  let total = 0;
  progress.start(`verifying ${source.table}`, options.expectedRows);
  try {
    for (let afterId: string | undefined; ;) {
      const rows = await readSourcePage(pool, source, afterId, options.batchSize, { scope: "all" });
      if (rows.length === 0) {
        break;
      }
      afterId = rows[rows.length - 1].id;
      const ids = rows.map((row) => row.id);
      const [stored, skipped] = await Promise.all([
        vectors.get(ids, { withVector: true }),
        skippedIds(pool, source, ids),
      ]);
      const points = new Map(stored.map((point) => [point.id.toLowerCase(), point]));
      for (const row of rows) {
        total++;
        const point = points.get(row.id.toLowerCase());
        const classified = classifyVector(row.vector, source.vector.kind, dimensions);
        if (point === undefined) {
          if (skipped.has(row.id.toLowerCase())) {
            excluded.add(row.id);
          } else {
            missing.add(row.id);
            if (!classified.ok) unusableMissing++;
          }
          continue;
        }
        if (!samePayload(payloadOf(toRowInput(row)), point.payload)) {
          payloadMismatch.add(row.id);
        }
        // Rows re-embedded because their pgvector value was unusable have nothing to compare.
        if (classified.ok && point.vector !== undefined) {
          compared++;
          const difference = normalizedMaxDifference(classified.vector, point.vector);
          maxDifference = Math.max(maxDifference, difference);
          if (difference > tolerance) vectorMismatch.add(row.id);
        }
      }
      progress.update(total);
    }
  } finally {
    progress.stop();
  }
  return {
    total,
    excluded: excluded.count,
    excludedIds: excluded.ids,
    missingPoints: missing.count,
    missingPointIds: missing.ids,
    unusableMissingPoints: unusableMissing,
    payloadMismatches: payloadMismatch.count,
    payloadMismatchIds: payloadMismatch.ids,
    vectorMismatches: vectorMismatch.count,
    vectorMismatchIds: vectorMismatch.ids,
    vectorsCompared: compared,
    maxDifference,
    tolerance,
  };
}

function rowFailures(rows: VerifyReport["rows"]): string[] {
  const failures: string[] = [];
  if (rows.missingPoints > 0) {
    failures.push(
      rows.unusableMissingPoints > 0
        ? `${rows.missingPoints} row(s) have no Qdrant point (${rows.unusableMissingPoints} with a null or wrong-dimension vector: run with --reembed-missing, or --skip-missing to leave them out)`
        : `${rows.missingPoints} row(s) have no Qdrant point: run the migration again`,
    );
  }
  if (rows.payloadMismatches > 0) {
    failures.push(`${rows.payloadMismatches} point(s) have a payload that differs from their row`);
  }
  if (rows.vectorMismatches > 0) {
    failures.push(
      `${rows.vectorMismatches} point(s) have a vector that differs from pgvector's beyond ${rows.tolerance}`,
    );
  }
  return failures;
}

async function compareNeighbours(
  pool: DatabasePool,
  vectors: VectorStore,
  source: MigratableSource,
  options: { dimensions: number; k: number; sampleSize: number; seed: string },
): Promise<Omit<VerifyReport["neighbours"], "required">> {
  const { dimensions, k } = options;
  const tableName = tableIdentifier(source);
  const vectorColumn = columnIdentifier(source);
  // Candidates on the pgvector side: rows with a point and a usable vector.
  const candidate = sql.fragment`${movedCondition(source)} AND ${vectorColumn} IS NOT NULL AND vector_dims(${vectorColumn}) = ${dimensions}`;
  const samples = await query("choosing the verification sample", () =>
    pool.any(sql.type(sampleSchema)`
      SELECT id, catalog_id AS "catalogId" FROM ${tableName}
      WHERE ${candidate}
      ORDER BY md5(id::text || ${options.seed})
      LIMIT ${options.sampleSize}
    `),
  );
  // Points Qdrant may rank that pgvector cannot (re-embedded rows): fetched beyond k, then set aside.
  const extra = new Map(
    (
      await query("counting rows without a pgvector value", () =>
        pool.any(sql.type(countSchema)`
          SELECT catalog_id AS "catalogId", count(*)::int AS rows FROM ${tableName} WHERE NOT (${candidate}) GROUP BY catalog_id
        `),
      )
    ).map((entry) => [entry.catalogId, entry.rows]),
  );
  const recalls: number[] = [];
  const imperfect: Array<{ id: string; catalogId: string; recall: number }> = [];
  for (const sample of samples) {
    const exact = await pool.transaction(async (tx) => {
      // Exact search: an approximate index (HNSW, IVFFlat) must not answer for pgvector.
      await query("disabling index scans", () => tx.query(sql.type(NO_ROWS)`SET LOCAL enable_indexscan = off`));
      return query("searching pgvector", () =>
        tx.anyFirst(sql.type(idSchema)`
          SELECT id FROM ${tableName}
          WHERE catalog_id = ${sample.catalogId}::uuid AND ${candidate}
          ORDER BY ${vectorColumn} <=> (SELECT ${vectorColumn} FROM ${tableName} WHERE id = ${sample.id}::uuid), id
          LIMIT ${k}
        `),
      );
    });
    const [row] = await readSourcePage(pool, source, undefined, 1, { scope: "all", onlyId: sample.id });
    const classified = classifyVector(row?.vector ?? null, source.vector.kind, dimensions);
    if (!classified.ok) {
      continue;
    }
    const hits = await vectors.search({
      filter: { catalogId: sample.catalogId, statuses: EMBEDDING_STATUSES },
      vector: classified.vector,
      limit: k + (extra.get(sample.catalogId) ?? 0),
    });
    const candidates = new Set(exact.map((id) => id.toLowerCase()));
    // Qdrant ids that pgvector could not have ranked are dropped before taking the top k.
    const eligible = await eligibleIds(
      pool,
      source,
      hits.map((hit) => hit.id),
      candidate,
    );
    const found = hits
      .map((hit) => hit.id.toLowerCase())
      .filter((id) => eligible.has(id))
      .slice(0, k);
    const value = recall([...candidates], found);
    recalls.push(value);
    if (value < 1) {
      imperfect.push({ id: sample.id, catalogId: sample.catalogId, recall: value });
    }
  }
  const meanRecall = recalls.length === 0 ? 1 : recalls.reduce((sum, value) => sum + value, 0) / recalls.length;
  return {
    k,
    samples: recalls.length,
    meanRecall,
    worstRecall: recalls.length === 0 ? 1 : Math.min(...recalls),
    imperfect,
  };
}

async function eligibleIds(
  pool: DatabasePool,
  source: MigratableSource,
  ids: readonly string[],
  candidate: ReturnType<typeof sql.fragment>,
): Promise<Set<string>> {
  if (ids.length === 0) {
    return new Set();
  }
  const rows = await query("reading neighbour ids", () =>
    pool.anyFirst(sql.type(idSchema)`
      SELECT id FROM ${tableIdentifier(source)} WHERE id = ANY(${sql.array(ids, "uuid")}) AND ${candidate}
    `),
  );
  return new Set(rows.map((id) => id.toLowerCase()));
}

/** Which of these rows --skip-missing excluded. */
async function skippedIds(pool: DatabasePool, source: MigratableSource, ids: readonly string[]): Promise<Set<string>> {
  const rows = await query("reading skipped rows", () =>
    pool.anyFirst(sql.type(idSchema)`
      SELECT id FROM dq_pgvector_moved
      WHERE source_table = ${source.table} AND origin = 'skipped' AND id = ANY(${sql.array(ids, "uuid")})
    `),
  );
  return new Set(rows.map((id) => id.toLowerCase()));
}
