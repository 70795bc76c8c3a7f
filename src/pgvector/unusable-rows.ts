import type { Logger } from "pino";
import { sql, type CommonQueryMethods, type DatabasePool } from "slonik";
import { z } from "zod";
import { pointOf } from "../core/points.js";
import type { Embedder } from "../embedders/embedder.js";
import type { VectorPoint, VectorStore } from "../stores/vector-store.js";
import { invalidateVerify } from "./migration-state.js";
import type { ProgressReporter } from "./progress.js";
import {
  columnIdentifier,
  NO_ROWS,
  query,
  readSourcePage,
  recordMoved,
  skippedCondition,
  tableIdentifier,
  toRowInput,
  unhandledCondition,
  unusableCondition,
  type MigratableSource,
  type SourceTable,
  type UnusableReason,
} from "./source-table.js";

// Rows whose pgvector value cannot be carried over (null, or of another dimension): listed in every
// report, and either re-embedded from their content (--reembed-missing) or excluded (--skip-missing).

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
export async function reembedMissing(
  deps: { pool: DatabasePool; vectors: VectorStore; embedder: Embedder; logger: Logger; progress: ProgressReporter },
  source: MigratableSource,
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
export async function skipUnusable(pool: DatabasePool, source: SourceTable, dimensions: number): Promise<void> {
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
