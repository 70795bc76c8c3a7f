import type { MetadataStore } from "../stores/metadata-store.js";
import type { VectorStore } from "../stores/vector-store.js";
import type { Ingest } from "./ingest.js";
import type { EmbeddingStatus } from "./types.js";

/** Rows deleted per transaction: each page is atomic across both stores; the whole job is resumable. */
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
}

/**
 * Deletes by criteria (a whole catalog, or rejected embeddings) in pages, each page atomic across both
 * stores. A dry run only counts and samples. Running it again after a failure finishes the job.
 */
export function createBulkDelete(deps: BulkDeleteDeps) {
  const { metadata, vectors, ingest } = deps;

  async function run(criteria: { catalogId?: string; status?: EmbeddingStatus }, dryRun: boolean): Promise<BulkDeleteResult> {
    const matched = await metadata.countRows(criteria);
    const sampleIds = (await metadata.listRows({ ...criteria, limit: SAMPLE })).map((row) => row.id);
    if (dryRun) {
      return { matched, deleted: 0, sampleIds };
    }
    let deleted = 0;
    for (;;) {
      // Always the first page: deleted rows are gone, so no cursor is needed and none can be skipped.
      const page = await metadata.listRows({ ...criteria, limit: PAGE });
      if (page.length === 0) {
        break;
      }
      deleted += (await ingest.deleteMany(page.map((row) => row.id))).deleted.length;
    }
    // Points whose rows were already gone (drift) go too.
    if (criteria.catalogId !== undefined) {
      await vectors.deleteCatalog(criteria.catalogId, { status: criteria.status });
    }
    return { matched, deleted, sampleIds };
  }

  return {
    deleteCatalog: (catalogId: string, options: { force: boolean }) => run({ catalogId }, !options.force),
    cleanupRejected: (options: { catalogId?: string; dryRun: boolean }) => run({ catalogId: options.catalogId, status: "rejected" }, options.dryRun),
  };
}

export type BulkDelete = ReturnType<typeof createBulkDelete>;
