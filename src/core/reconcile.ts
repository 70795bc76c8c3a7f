import type { Logger } from "pino";
import type { Embedder } from "../embedders/embedder.js";
import type { MetadataStore } from "../stores/metadata-store.js";
import type { StoredPoint, VectorStore } from "../stores/vector-store.js";
import { payloadOf, pointOf, samePayload } from "./points.js";
import type { EmbeddingRow } from "./types.js";
import type { WritePath } from "./write-path.js";

const PAGE = 500;
const SAMPLE = 20;

export interface ReconcileResult {
  rowsScanned: number;
  pointsScanned: number;
  rowsWithoutPoints: number;
  pointsWithoutRows: number;
  /** Points whose payload disagrees with the row, including another content hash or model (drift). */
  mismatchedPoints: number;
  repaired: number;
  /** Drifted items repair could not fix (a precomputed vector that is gone): logged, left for a human. */
  unrepairable: number;
  /** Ids skipped because a write held them (in progress: never "repaired"). */
  inProgress: number;
  sampleIds: string[];
}

export interface ReconcileDeps {
  metadata: MetadataStore;
  vectors: VectorStore;
  embedder: Embedder;
  logger: Logger;
  writePath: WritePath;
  /** Reports the drift found for a catalog ("" = every catalog) after each run. */
  onDrift?: (catalogId: string, drift: number) => void;
}

type Drift = "missing" | "content" | "payload";

/**
 * Finds and (with `repair`) fixes drift between the stores, scanning both in pages. A candidate is
 * judged again under its id's write lock (core/write-path.ts), taken with skip-locked: an id a write
 * holds is in progress and left alone; an intent found under the lock is a write that died and is
 * finished from its record. What is left is real drift:
 * - a row without its point, or whose point holds another content hash or model: re-embedded from the
 *   row's content when the row's model is the service's; a precomputed vector is never replaced (those
 *   are counted as unrepairable and logged);
 * - a point whose payload (catalog, kind, schema, table, status) disagrees: rewritten from the row,
 *   keeping its vector;
 * - a point without a row and without a write in progress: deleted.
 */
export function createReconcile(deps: ReconcileDeps) {
  const { metadata, vectors, embedder, logger, writePath } = deps;

  return {
    async reconcile(options: { catalogId?: string; repair: boolean }): Promise<ReconcileResult> {
      const result: ReconcileResult = {
        rowsScanned: 0,
        pointsScanned: 0,
        rowsWithoutPoints: 0,
        pointsWithoutRows: 0,
        mismatchedPoints: 0,
        repaired: 0,
        unrepairable: 0,
        inProgress: 0,
        sampleIds: [],
      };
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
        const candidates = rowDrift(rows, await vectors.get(rows.map((row) => row.id)));
        if (candidates.size === 0) {
          continue;
        }
        await metadata.withLocks({ ids: [...candidates.keys()], skipLocked: true }, async (store, locked) => {
          result.inProgress += candidates.size - locked.length;
          if (options.repair) {
            result.repaired += await writePath.finishIntents(store, locked);
          } else {
            // Without repair, a dead write's intent is reported as the drift it leaves.
            const pending = new Set((await store.getIntents(locked)).map((intent) => intent.id));
            for (const id of pending) {
              result.mismatchedPoints++;
              note([id]);
            }
            locked = locked.filter((id) => !pending.has(id));
          }
          const lockedRows = await store.getRows(locked);
          const confirmed = rowDrift(
            lockedRows,
            await vectors.get(
              lockedRows.map((row) => row.id),
              { withVector: true },
            ),
          );
          for (const [id, drift] of confirmed) {
            if (drift.kind === "missing") {
              result.rowsWithoutPoints++;
            } else {
              result.mismatchedPoints++;
            }
            note([id]);
          }
          if (options.repair) {
            const { repaired, unrepairable } = await repairRows([...confirmed.values()]);
            result.repaired += repaired;
            result.unrepairable += unrepairable;
          }
        });
      }

      // Points -> rows.
      let afterPoint: string | undefined;
      for (;;) {
        const page = await vectors.scroll({ catalogId: options.catalogId, afterId: afterPoint, limit: PAGE });
        result.pointsScanned += page.points.length;
        const ids = page.points.map((point) => point.id);
        const present = new Set(ids.length === 0 ? [] : (await metadata.getRows(ids)).map((row) => row.id));
        const orphans = ids.filter((id) => !present.has(id));
        if (orphans.length > 0) {
          await metadata.withLocks({ ids: orphans, skipLocked: true }, async (store, locked) => {
            result.inProgress += orphans.length - locked.length;
            const pending = new Set((await store.getIntents(locked)).map((intent) => intent.id));
            if (options.repair && pending.size > 0) {
              result.repaired += await writePath.finishIntents(store, [...pending]);
            }
            const stillPresent = new Set((await store.getRows(locked)).map((row) => row.id));
            const confirmed = locked.filter((id) => !stillPresent.has(id) && !pending.has(id));
            result.pointsWithoutRows += confirmed.length;
            note(confirmed);
            if (options.repair && confirmed.length > 0) {
              await vectors.delete(confirmed);
              result.repaired += confirmed.length;
            }
          });
        }
        if (page.nextId === undefined) {
          break;
        }
        afterPoint = page.nextId;
      }

      const drift = result.rowsWithoutPoints + result.pointsWithoutRows + result.mismatchedPoints;
      deps.onDrift?.(options.catalogId ?? "", drift);
      if (drift > 0) {
        logger.warn(
          { catalogId: options.catalogId, ...result, sampleIds: undefined },
          options.repair ? "reconcile repaired drift" : "reconcile found drift",
        );
      }
      if (result.unrepairable > 0) {
        logger.error(
          { catalogId: options.catalogId, unrepairable: result.unrepairable },
          "rows with a precomputed vector lost their point: send the vectors again",
        );
      }
      return result;
    },
  };

  /** Runs under the rows' locks: every write of these ids is finished, nobody else writes them. */
  async function repairRows(
    drifted: readonly { kind: Drift; row: EmbeddingRow; point?: StoredPoint }[],
  ): Promise<{ repaired: number; unrepairable: number }> {
    const reembed = drifted.filter((item) => item.kind !== "payload" && item.row.model === embedder.model);
    const unrepairable = drifted.filter((item) => item.kind !== "payload" && item.row.model !== embedder.model).length;
    const rewrite = drifted.filter((item) => item.kind === "payload" && item.point?.vector !== undefined);
    const points = rewrite.map((item) => pointOf(item.row, item.point!.vector!));
    if (reembed.length > 0) {
      const embedded = await embedder.embed(reembed.map((item) => ({ id: item.row.id, text: item.row.content })));
      points.push(...reembed.map((item, index) => pointOf(item.row, embedded[index])));
    }
    await vectors.upsert(points);
    return { repaired: points.length, unrepairable };
  }
}

function rowDrift(
  rows: readonly EmbeddingRow[],
  points: readonly StoredPoint[],
): Map<string, { kind: Drift; row: EmbeddingRow; point?: StoredPoint }> {
  const byId = new Map(points.map((point) => [point.id, point]));
  const drift = new Map<string, { kind: Drift; row: EmbeddingRow; point?: StoredPoint }>();
  for (const row of rows) {
    const point = byId.get(row.id);
    if (point === undefined) {
      drift.set(row.id, { kind: "missing", row });
    } else if (point.payload.content_hash !== row.contentHash || point.payload.model !== row.model) {
      drift.set(row.id, { kind: "content", row, point });
    } else if (!samePayload(point.payload, payloadOf(row))) {
      drift.set(row.id, { kind: "payload", row, point });
    }
  }
  return drift;
}

export type Reconcile = ReturnType<typeof createReconcile>;
