import type { MetadataStore } from "../stores/metadata-store.js";
import type { VectorStore } from "../stores/vector-store.js";
import type { Ingest } from "./ingest.js";
import type { EmbeddingStatus } from "./types.js";
import type { WritePath } from "./write-path.js";

/** Rows deleted per write: each page is atomic across both stores; the whole job is resumable. */
const PAGE = 1000;
const SAMPLE = 10;

export interface BulkDeleteResult {
  matched: number;
  deleted: number;
  sampleIds: string[];
}

export interface BulkDeleteDeps {
  metadata: MetadataStore;
  vectors: VectorStore;
  ingest: Ingest;
  writePath: WritePath;
}

/**
 * Deletes by criteria (a whole catalog, or rejected embeddings) in pages, each page one write of the
 * write path (core/write-path.ts). A dry run only counts and samples. Running it again after a failure
 * finishes the job. A catalog delete holds the catalog's lock (no catalog sync runs meanwhile); the
 * status of a rejected row is checked again in the delete statement, so a row accepted meanwhile stays.
 */
export function createBulkDelete(deps: BulkDeleteDeps) {
  const { metadata, vectors, ingest, writePath } = deps;

  async function run(
    store: MetadataStore,
    criteria: { catalogId?: string; status?: EmbeddingStatus },
    dryRun: boolean,
  ): Promise<BulkDeleteResult> {
    const matched = await store.countRows(criteria);
    const sampleIds = (await store.listRows({ ...criteria, limit: SAMPLE })).map((row) => row.id);
    if (dryRun) {
      return { matched, deleted: 0, sampleIds };
    }
    let deleted = 0;
    let afterId: string | undefined;
    for (;;) {
      const page = await store.listRows({ ...criteria, afterId, limit: PAGE });
      if (page.length === 0) {
        break;
      }
      afterId = page[page.length - 1].id;
      deleted += (
        await ingest.deleteMany(
          page.map((row) => row.id),
          { catalogId: criteria.catalogId, status: criteria.status, store },
        )
      ).deleted.length;
    }
    return { matched, deleted, sampleIds };
  }

  /**
   * Points of the catalog without a row (left by drift): each is deleted under its id's lock after
   * checking again that it has no row and no write in progress, so a write committed after the row pages
   * were read keeps its point.
   */
  async function deleteOrphanPoints(store: MetadataStore, catalogId: string): Promise<void> {
    let afterId: string | undefined;
    for (;;) {
      const page = await vectors.scroll({ catalogId, afterId, limit: PAGE });
      const ids = page.points.map((point) => point.id);
      if (ids.length > 0) {
        await store.withLocks({ ids }, async (locked) => {
          await writePath.finishIntents(locked, ids);
          const present = new Set((await locked.getRows(ids)).map((row) => row.id));
          await vectors.delete(ids.filter((id) => !present.has(id)));
        });
      }
      if (page.nextId === undefined) {
        return;
      }
      afterId = page.nextId;
    }
  }

  return {
    deleteCatalog: (catalogId: string, options: { force: boolean }) =>
      metadata.withLocks({ catalogIds: [catalogId] }, async (store) => {
        const result = await run(store, { catalogId }, !options.force);
        if (options.force) {
          await deleteOrphanPoints(store, catalogId);
        }
        return result;
      }),
    cleanupRejected: (options: { catalogId?: string; dryRun: boolean }) =>
      run(metadata, { catalogId: options.catalogId, status: "rejected" }, options.dryRun),
  };
}

export type BulkDelete = ReturnType<typeof createBulkDelete>;
