import type { Logger } from "pino";
import { sql, type DatabasePool, type SerializableValue } from "slonik";
import { z } from "zod";
import { payloadOf } from "../core/ingest.js";
import { EMBEDDING_STATUSES, type PointPayload } from "../core/types.js";
import type { VectorStore } from "../stores/vector-store.js";
import { collectionModel, DEFAULT_COLUMN, DEFAULT_LIST_LIMIT, DEFAULT_TABLE, type SourceOptions } from "./migrate.js";
import { recordVerify } from "./migration-state.js";
import { silentProgress, type ProgressReporter } from "./progress.js";
import {
  classifyVector,
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

/**
 * Checks, before cutover, that Qdrant holds what pgvector holds: per-catalog counts, a point for every
 * row with the payload the service would write, equal vectors (normalized: cosine collections store
 * unit vectors), and, for a sample of rows, Qdrant's top-k neighbours within the catalog against
 * pgvector's exact top-k (`<=>`, index scans off). Records the outcome for `--cutover` to check.
 */
export async function verifyPgvectorMigration(deps: VerifyDeps, options: VerifyOptions): Promise<VerifyReport> {
  const { pool, vectors, logger } = deps;
  const progress = deps.progress ?? silentProgress;
  const table = options.table ?? DEFAULT_TABLE;
  const column = options.column ?? DEFAULT_COLUMN;
  const { dimensions } = options;
  const k = options.k ?? 10;
  const sampleSize = options.sampleSize ?? 50;
  const required = options.minRecall ?? 0.99;
  const tolerance = options.tolerance ?? 1e-5;
  const batchSize = options.batchSize ?? 256;
  const listLimit = options.listLimit ?? DEFAULT_LIST_LIMIT;
  const source = await inspectSourceTable(pool, table, column);
  requireMigratable(source);
  const model = options.model ?? (await collectionModel(pool, source));
  const failures: string[] = [];

  // 1. Counts per catalog: rows in Postgres (those --skip-missing excluded aside) against points in
  // Qdrant; and every point's model, the collection's.
  const rowCounts = await query("counting rows per catalog", () =>
    pool.any(sql.type(countSchema)`
      SELECT catalog_id AS "catalogId", count(*)::int AS rows FROM ${tableIdentifier(source)} WHERE NOT ${skippedCondition(source)} GROUP BY catalog_id
    `),
  );
  const pointCounts = new Map<string, number>();
  const modelMismatch: string[] = [];
  let modelCount = 0;
  for (let afterId: string | undefined, first = true; first || afterId !== undefined; first = false) {
    const page = await vectors.scroll({ afterId, limit: 1_000 });
    for (const point of page.points) {
      pointCounts.set(point.payload.catalog_id, (pointCounts.get(point.payload.catalog_id) ?? 0) + 1);
      if (point.payload.model !== model) {
        modelCount++;
        if (modelMismatch.length < listLimit) modelMismatch.push(point.id);
      }
    }
    afterId = page.nextId;
  }
  if (modelCount > 0) {
    failures.push(
      `${modelCount} point(s) were made by another model than the collection's ${model}: re-embed them with ${model}`,
    );
  }
  const catalogs = new Map<string, CatalogCount>();
  for (const { catalogId, rows } of rowCounts) {
    catalogs.set(catalogId, { catalogId, rows, points: pointCounts.get(catalogId) ?? 0 });
  }
  for (const [catalogId, points] of pointCounts) {
    if (!catalogs.has(catalogId)) {
      catalogs.set(catalogId, { catalogId, rows: 0, points });
    }
  }
  const mismatched = [...catalogs.values()].filter((entry) => entry.rows !== entry.points);
  if (mismatched.length > 0) {
    failures.push(`${mismatched.length} catalog(s) have a different number of rows and points`);
  }

  // 2. Every row has its point, with the service's payload and the same vector.
  const missing: string[] = [];
  const payloadMismatch: string[] = [];
  const vectorMismatch: string[] = [];
  let missingCount = 0;
  let excludedCount = 0;
  const excluded: string[] = [];
  let unusableMissing = 0;
  let payloadCount = 0;
  let vectorCount = 0;
  let compared = 0;
  let maxDifference = 0;
  let total = 0;
  progress.start(
    `verifying ${table}`,
    rowCounts.reduce((sum, entry) => sum + entry.rows, 0),
  );
  try {
    for (let afterId: string | undefined; ;) {
      const rows = await readSourcePage(pool, source, afterId, batchSize, { scope: "all" });
      if (rows.length === 0) {
        break;
      }
      afterId = rows[rows.length - 1].id;
      const points = new Map(
        (
          await vectors.get(
            rows.map((row) => row.id),
            { withVector: true },
          )
        ).map((point) => [point.id.toLowerCase(), point]),
      );
      const skipped = await skippedIds(
        pool,
        source,
        rows.map((row) => row.id),
      );
      for (const row of rows) {
        total++;
        const point = points.get(row.id.toLowerCase());
        const classified = classifyVector(row.vector, source.vector.kind, dimensions);
        if (point === undefined && skipped.has(row.id.toLowerCase())) {
          excludedCount++;
          if (excluded.length < listLimit) excluded.push(row.id);
          continue;
        }
        if (point === undefined) {
          missingCount++;
          if (!classified.ok) unusableMissing++;
          if (missing.length < listLimit) missing.push(row.id);
          continue;
        }
        if (!samePayload(payloadOf(toRowInput(row)), point.payload)) {
          payloadCount++;
          if (payloadMismatch.length < listLimit) payloadMismatch.push(row.id);
        }
        // Rows re-embedded because their pgvector value was unusable have nothing to compare.
        if (classified.ok && point.vector !== undefined) {
          compared++;
          const difference = normalizedMaxDifference(classified.vector, point.vector);
          maxDifference = Math.max(maxDifference, difference);
          if (difference > tolerance) {
            vectorCount++;
            if (vectorMismatch.length < listLimit) vectorMismatch.push(row.id);
          }
        }
      }
      progress.update(total);
    }
  } finally {
    progress.stop();
  }
  if (missingCount > 0) {
    failures.push(
      unusableMissing > 0
        ? `${missingCount} row(s) have no Qdrant point (${unusableMissing} with a null or wrong-dimension vector: run with --reembed-missing, or --skip-missing to leave them out)`
        : `${missingCount} row(s) have no Qdrant point: run the migration again`,
    );
  }
  if (payloadCount > 0) {
    failures.push(`${payloadCount} point(s) have a payload that differs from their row`);
  }
  if (vectorCount > 0) {
    failures.push(`${vectorCount} point(s) have a vector that differs from pgvector's beyond ${tolerance}`);
  }

  // 3. Neighbours: Qdrant's top-k against pgvector's exact top-k, within the sample's catalog.
  const neighbours = await compareNeighbours(pool, vectors, source, {
    dimensions,
    k,
    sampleSize,
    seed: options.seed ?? "dq-pgvector-verify",
  });
  if (neighbours.samples > 0 && neighbours.meanRecall < required) {
    failures.push(`mean recall@${k} is ${neighbours.meanRecall.toFixed(4)}, below the required ${required}`);
  }

  const report: VerifyReport = {
    table,
    column,
    columnType: source.vector.columnType,
    dimensions,
    verifiedAt: new Date().toISOString(),
    passed: failures.length === 0,
    failures,
    catalogs: { checked: catalogs.size, mismatched: mismatched.slice(0, listLimit) },
    model: { expected: model, mismatches: modelCount, mismatchIds: modelMismatch },
    rows: {
      total,
      excluded: excludedCount,
      excludedIds: excluded,
      missingPoints: missingCount,
      missingPointIds: missing,
      payloadMismatches: payloadCount,
      payloadMismatchIds: payloadMismatch,
      vectorMismatches: vectorCount,
      vectorMismatchIds: vectorMismatch,
      vectorsCompared: compared,
      maxDifference,
      tolerance,
    },
    neighbours: { ...neighbours, required },
  };
  await recordVerify(pool, table, column, report.passed, report as unknown as SerializableValue);
  logger.info(
    { table, passed: report.passed, failures },
    report.passed ? "verification passed" : "verification FAILED",
  );
  return report;
}

function samePayload(expected: PointPayload, actual: PointPayload): boolean {
  return (Object.keys(expected) as Array<keyof PointPayload>).every((key) => expected[key] === actual[key]);
}

async function compareNeighbours(
  pool: DatabasePool,
  vectors: VectorStore,
  source: Parameters<typeof readSourcePage>[1],
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
  source: Parameters<typeof readSourcePage>[1],
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
async function skippedIds(
  pool: DatabasePool,
  source: Parameters<typeof readSourcePage>[1],
  ids: readonly string[],
): Promise<Set<string>> {
  const rows = await query("reading skipped rows", () =>
    pool.anyFirst(sql.type(idSchema)`
      SELECT id FROM dq_pgvector_moved
      WHERE source_table = ${source.table} AND origin = 'skipped' AND id = ANY(${sql.array(ids, "uuid")})
    `),
  );
  return new Set(rows.map((id) => id.toLowerCase()));
}
