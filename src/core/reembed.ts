import type { Logger } from "pino";
import type { Embedder } from "../embedders/embedder.js";
import type { MetadataStore } from "../stores/metadata-store.js";
import type { VectorStore } from "../stores/vector-store.js";
import { payloadOf, pointOf } from "./ingest.js";
import type { EmbeddingRow, PointPayload } from "./types.js";

/**
 * Re-embedding every row with another model, without downtime: the new vectors go into a collection of
 * their own while the service keeps serving the old one through its alias; then the alias flips.
 *
 *   build      rows -> new collection, in id order; a row whose point is already there with the same
 *              payload (same content hash) is skipped, so a re-run resumes where a stopped one ended
 *   catch-up   the same pass again: rows the service wrote or changed meanwhile are re-embedded, points
 *              of rows deleted meanwhile are removed
 *   flip       the alias points at the new collection (one atomic Qdrant call)
 *   after-flip one more pass, for writes that reached the old collection between catch-up and flip
 *
 * Postgres rows keep their content; after the flip, `relabel` records the new model on rows whose
 * content is what was embedded. The old collection stays intact until the operator drops it.
 */
export interface ReembedDeps {
  metadata: MetadataStore;
  /** The store on the collection being built (created with the new model's metadata by `start()`). */
  target: VectorStore;
  /** The new model. */
  embedder: Embedder;
  /** Points the service's alias at the new collection. */
  flip(): Promise<void>;
  logger: Logger;
  /** Rows per page (one Postgres query, one embed call, one upsert). */
  batchSize: number;
  /** Build only: leave the alias where it is (flip later by running again without it). */
  buildOnly?: boolean;
  /** Called after each page, for progress output. */
  onProgress?(progress: ReembedProgress): void;
  /**
   * After the flip: records on rows that their vector now comes from the new model (only where the
   * content hash is still the one embedded), so the service does not embed them again on their next
   * unchanged upsert. Resolves to the rows changed.
   */
  relabel?(rows: ReadonlyArray<{ id: string; contentHash: string }>, model: string): Promise<number>;
  /** Called when a pass ends (tests use it to write through the service between passes). */
  afterPass?(pass: ReembedPass): Promise<void>;
}

export type ReembedPass = "build" | "catch-up" | "after-flip";

export interface ReembedProgress {
  pass: ReembedPass;
  /** Rows looked at so far in this pass. */
  scanned: number;
  /** Rows in Postgres when the pass began. */
  total: number;
  /** Rows embedded and written in this pass. */
  embedded: number;
}

export interface PassReport {
  scanned: number;
  embedded: number;
  /** Points whose rows no longer exist, removed from the new collection. */
  removed: number;
  /** Rows whose `model` now names the new model (after-flip pass only). */
  relabeled: number;
}

export interface ReembedReport {
  passes: Partial<Record<ReembedPass, PassReport>>;
  flipped: boolean;
}

export async function reembed(deps: ReembedDeps): Promise<ReembedReport> {
  const { metadata, target, embedder, logger } = deps;
  const report: ReembedReport = { passes: {}, flipped: false };

  await target.start();

  const run = async (pass: ReembedPass): Promise<void> => {
    const total = await metadata.countRows({});
    const result: PassReport = { scanned: 0, embedded: 0, removed: 0, relabeled: 0 };
    let afterId: string | undefined;
    for (;;) {
      const rows = await metadata.listRows({ afterId, limit: deps.batchSize });
      if (rows.length === 0) break;
      afterId = rows[rows.length - 1].id;
      result.scanned += rows.length;
      const stored = new Map((await target.get(rows.map((row) => row.id))).map((point) => [point.id, point.payload]));
      // The new collection's points say which model made them, like the service's own writes.
      const relabeled = rows.map((row) => ({ ...row, model: embedder.model }));
      const stale = relabeled.filter((row) => !upToDate(row, stored.get(row.id)));
      if (stale.length > 0) {
        const vectors = await embedder.embed(stale.map((row) => ({ id: row.id, text: row.content })));
        await target.upsert(stale.map((row, index) => pointOf(row, vectors[index])));
        result.embedded += stale.length;
      }
      if (pass === "after-flip" && deps.relabel !== undefined) {
        const outdated = rows.filter((row) => row.model !== embedder.model);
        result.relabeled += await deps.relabel(outdated, embedder.model);
      }
      deps.onProgress?.({ pass, scanned: result.scanned, total, embedded: result.embedded });
    }
    if (pass !== "build") result.removed = await removeOrphans();
    report.passes[pass] = result;
    logger.info({ pass, ...result }, `reembed: ${pass} pass done`);
    await deps.afterPass?.(pass);
  };

  /** Points of the new collection whose rows are gone (deleted while the build ran). */
  const removeOrphans = async (): Promise<number> => {
    let removed = 0;
    let afterId: string | undefined;
    for (;;) {
      const page = await target.scroll({ afterId, limit: deps.batchSize });
      const ids = page.points.map((point) => point.id);
      if (ids.length > 0) {
        const present = new Set((await metadata.getRows(ids)).map((row) => row.id));
        const orphans = ids.filter((id) => !present.has(id));
        if (orphans.length > 0) {
          await target.delete(orphans);
          removed += orphans.length;
        }
      }
      if (page.nextId === undefined) break;
      afterId = page.nextId;
    }
    return removed;
  };

  await run("build");
  await run("catch-up");
  if (deps.buildOnly) return report;
  await deps.flip();
  report.flipped = true;
  await run("after-flip");
  return report;
}

/** A point is up to date when its payload is the row's (same content hash, so the same text was embedded). */
function upToDate(row: EmbeddingRow, payload: PointPayload | undefined): boolean {
  if (payload === undefined) return false;
  const expected: PointPayload = payloadOf(row);
  return (Object.keys(expected) as Array<keyof PointPayload>).every(
    (key) => (payload[key] ?? null) === (expected[key] ?? null),
  );
}
