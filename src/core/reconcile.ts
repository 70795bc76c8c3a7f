import type { Logger } from "pino";
import type { Embedder } from "../embedders/embedder.js";
import type { MetadataStore } from "../stores/metadata-store.js";
import type { VectorStore } from "../stores/vector-store.js";
import { payloadOf, pointOf } from "./ingest.js";
import type { EmbeddingRow, PointPayload } from "./types.js";

const PAGE = 500;
const SAMPLE = 20;

export interface ReconcileResult {
  rowsScanned: number;
  pointsScanned: number;
  rowsWithoutPoints: number;
  pointsWithoutRows: number;
  mismatchedPoints: number;
  repaired: number;
  sampleIds: string[];
}

export interface ReconcileDeps {
  metadata: MetadataStore;
  vectors: VectorStore;
  embedder: Embedder;
  logger: Logger;
  /**
   * A write's Postgres transaction is invisible until it commits while its point is already in Qdrant.
   * Drift candidates are checked again after this long, so an in-flight write is never "repaired".
   */
  settleMs?: number;
  /** Reports the drift found for a catalog ("" = every catalog) after each run. */
  onDrift?: (catalogId: string, drift: number) => void;
}

/**
 * Finds and (with `repair`) fixes drift between the stores, scanning both in pages: rows without points
 * are re-embedded from their content, points whose payload disagrees with the row are rewritten, points
 * without rows are deleted.
 */
export function createReconcile(deps: ReconcileDeps) {
  const { metadata, vectors, embedder, logger } = deps;
  const settleMs = deps.settleMs ?? 1_000;
  const settle = () => new Promise((resolve) => setTimeout(resolve, settleMs));

  return {
    async reconcile(options: { catalogId?: string; repair: boolean }): Promise<ReconcileResult> {
      const result: ReconcileResult = { rowsScanned: 0, pointsScanned: 0, rowsWithoutPoints: 0, pointsWithoutRows: 0, mismatchedPoints: 0, repaired: 0, sampleIds: [] };
      const note = (ids: readonly string[]) => {
        for (const id of ids) {
          if (result.sampleIds.length < SAMPLE) {
            result.sampleIds.push(id);
          }
        }
      };

      // Rows -> points.
      let afterId: string | undefined;
      for (;;) {
        const rows = await metadata.listRows({ catalogId: options.catalogId, afterId, limit: PAGE });
        if (rows.length === 0) {
          break;
        }
        afterId = rows[rows.length - 1].id;
        result.rowsScanned += rows.length;
        const drift = await rowDrift(rows);
        if (drift.missing.length + drift.mismatched.length === 0) {
          continue;
        }
        await settle();
        const confirmed = await rowDrift(await metadata.getRows([...drift.missing, ...drift.mismatched].map((row) => row.id)));
        result.rowsWithoutPoints += confirmed.missing.length;
        result.mismatchedPoints += confirmed.mismatched.length;
        note([...confirmed.missing, ...confirmed.mismatched].map((row) => row.id));
        if (options.repair) {
          result.repaired += await reembed(confirmed.missing);
          result.repaired += await rewritePayloads(confirmed.mismatched);
        }
      }

      // Points -> rows.
      let afterPoint: string | undefined;
      for (;;) {
        const page = await vectors.scroll({ catalogId: options.catalogId, afterId: afterPoint, limit: PAGE });
        result.pointsScanned += page.points.length;
        const ids = page.points.map((point) => point.id);
        const orphans = await withoutRows(ids);
        if (orphans.length > 0) {
          await settle();
          const confirmed = await withoutRows(orphans);
          result.pointsWithoutRows += confirmed.length;
          note(confirmed);
          if (options.repair && confirmed.length > 0) {
            await vectors.delete(confirmed);
            result.repaired += confirmed.length;
          }
        }
        if (page.nextId === undefined) {
          break;
        }
        afterPoint = page.nextId;
      }

      const drift = result.rowsWithoutPoints + result.pointsWithoutRows + result.mismatchedPoints;
      deps.onDrift?.(options.catalogId ?? "", drift);
      if (drift > 0) {
        logger.warn({ catalogId: options.catalogId, ...result, sampleIds: undefined }, options.repair ? "reconcile repaired drift" : "reconcile found drift");
      }
      return result;
    },
  };

  async function rowDrift(rows: readonly EmbeddingRow[]): Promise<{ missing: EmbeddingRow[]; mismatched: EmbeddingRow[] }> {
    const points = new Map((await vectors.get(rows.map((row) => row.id))).map((point) => [point.id, point.payload]));
    const missing: EmbeddingRow[] = [];
    const mismatched: EmbeddingRow[] = [];
    for (const row of rows) {
      const payload = points.get(row.id);
      if (payload === undefined) {
        missing.push(row);
      } else if (!samePayload(payload, payloadOf(row))) {
        mismatched.push(row);
      }
    }
    return { missing, mismatched };
  }

  async function withoutRows(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) {
      return [];
    }
    const present = new Set((await metadata.getRows(ids)).map((row) => row.id));
    return ids.filter((id) => !present.has(id));
  }

  /** A row without its point gets a new vector from its content (and, if needed, the current model). */
  async function reembed(rows: readonly EmbeddingRow[]): Promise<number> {
    if (rows.length === 0) {
      return 0;
    }
    const embedded = await embedder.embed(rows.map((row) => ({ id: row.id, text: row.content })));
    const rewritten = rows.map((row) => ({ ...row, model: embedder.model }));
    await metadata.transaction(async (tx) => {
      await tx.upsertRows(rewritten.filter((row, index) => row.model !== rows[index].model));
      await vectors.upsert(rewritten.map((row, index) => pointOf(row, embedded[index])));
    });
    return rows.length;
  }

  /** A point whose payload disagrees with its row keeps its vector and gets the row's payload. */
  async function rewritePayloads(rows: readonly EmbeddingRow[]): Promise<number> {
    if (rows.length === 0) {
      return 0;
    }
    const stored = new Map((await vectors.get(rows.map((row) => row.id), { withVector: true })).map((point) => [point.id, point.vector]));
    const points = rows.flatMap((row) => {
      const vector = stored.get(row.id);
      return vector === undefined ? [] : [pointOf(row, vector)];
    });
    await vectors.upsert(points);
    return points.length;
  }
}

function samePayload(a: PointPayload, b: PointPayload): boolean {
  return (
    a.catalog_id === b.catalog_id &&
    a.kind === b.kind &&
    a.schema === b.schema &&
    a.table === b.table &&
    a.status === b.status &&
    a.content_hash === b.content_hash &&
    a.model === b.model
  );
}

export type Reconcile = ReturnType<typeof createReconcile>;
