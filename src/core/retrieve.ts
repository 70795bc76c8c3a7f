import type { Logger } from "pino";
import type { Embedder } from "../embedders/embedder.js";
import type { MetadataStore } from "../stores/metadata-store.js";
import type { VectorFilter, VectorStore } from "../stores/vector-store.js";
import type { EmbeddingRow } from "./types.js";

export interface SearchQuery {
  filter: VectorFilter;
  /** Exactly one of text and vector. */
  text?: string;
  vector?: Float32Array;
  limit: number;
  offset: number;
  scoreThreshold?: number;
  signal?: AbortSignal;
}

export interface SearchHit {
  row: EmbeddingRow;
  score: number;
}

export interface RetrieveDeps {
  metadata: MetadataStore;
  vectors: VectorStore;
  embedder: Embedder;
  logger: Logger;
  /** Called with the number of Qdrant hits whose Postgres row was gone (they are never returned). */
  onDroppedHits?: (count: number) => void;
}

export interface Retrieve {
  search(query: SearchQuery): Promise<SearchHit[]>;
}

export function createRetrieve(deps: RetrieveDeps): Retrieve {
  const { metadata, vectors, embedder, logger } = deps;

  return {
    async search(query) {
      const vector = query.vector ?? (await embedder.embed([{ text: query.text ?? "" }], { signal: query.signal }))[0];
      const hits = await vectors.search({
        filter: query.filter,
        vector,
        limit: query.limit,
        offset: query.offset,
        scoreThreshold: query.scoreThreshold,
        signal: query.signal,
      });
      if (hits.length === 0) {
        return [];
      }
      // One query for the whole page, scoped to the catalog again: Postgres is the truth.
      const rows = new Map((await metadata.getRows(hits.map((hit) => hit.id), { catalogId: query.filter.catalogId })).map((row) => [row.id, row]));
      const result: SearchHit[] = [];
      for (const hit of hits) {
        const row = rows.get(hit.id);
        if (row !== undefined) {
          result.push({ row, score: hit.score });
        }
      }
      const dropped = hits.length - result.length;
      if (dropped > 0) {
        logger.warn({ dropped, catalogId: query.filter.catalogId }, "search hits without a Postgres row were dropped; reconcile will repair them");
        deps.onDroppedHits?.(dropped);
      }
      return result;
    },
  };
}
