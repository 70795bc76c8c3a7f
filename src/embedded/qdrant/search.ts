import type { Collection } from "./collection.js";
import { unimplemented, wrongInput } from "./errors.js";
import type { CompiledFilter } from "./filter.js";
import type { SparseVector } from "./sparse-storage.js";
import { comparePointKeys } from "./point-id.js";
import { TopK, type Scored, type TieBreak } from "./top-k.js";

/**
 * Exact nearest-neighbour search. Points are narrowed by the filter first (through payload indexes
 * when a `must` condition allows), then every remaining vector is scored once. Scores are "raw"
 * similarities (larger is better); `postprocess` of the vector's metric gives the API's score.
 */
export interface SearchRequest {
  using: string;
  vector: Float32Array | SparseVector;
  filter: CompiledFilter;
  /** How many results to keep (limit + offset). */
  top: number;
  /** A threshold as the API states it (a distance for Euclid/Manhattan, a similarity otherwise). */
  scoreThreshold?: number;
}

export interface SearchHit extends Scored {
  /** The score as the API reports it. */
  apiScore: number;
}

export function search(c: Collection, request: SearchRequest): SearchHit[] {
  const { vector } = request;
  if (vector instanceof Float32Array) return searchDense(c, request, vector);
  return searchSparse(c, request, vector);
}

function searchDense(c: Collection, request: SearchRequest, query: Float32Array): SearchHit[] {
  const slot = c.dense.get(request.using);
  if (slot === undefined) {
    if (c.sparse.has(request.using)) throw wrongInput(`Vector \`${request.using}\` is sparse, a dense query was given`);
    throw wrongInput(`Not existing vector name error: ${request.using}`);
  }
  if (query.length !== slot.size) {
    throw wrongInput(`Vector dimension error: expected dim: ${slot.size}, got ${query.length}`);
  }
  const q = slot.metric.preprocess(Float32Array.from(query));
  const storage = slot.storage;
  const score = storage.scorer(slot.metric.kernel, q);
  const threshold = request.scoreThreshold;
  const metric = slot.metric;
  const top = new TopK(request.top, byPointId(c));
  const visit =
    threshold === undefined
      ? (offset: number): void => {
          const s = score(offset);
          if (s >= top.floor) top.push(offset, s);
        }
      : (offset: number): void => {
          const s = score(offset);
          if (s >= top.floor && metric.passes(metric.postprocess(s), threshold)) top.push(offset, s);
        };
  if (request.filter.trivial) {
    // Sequential over the storage: deleted points have no vector, so `has` skips them.
    const end = c.offsetLimit;
    for (let offset = 0; offset < end; offset++) if (storage.has(offset)) visit(offset);
  } else {
    for (const offset of c.filterOffsets(request.filter)) if (storage.has(offset)) visit(offset);
  }
  return top.sorted().map((h) => ({ ...h, apiScore: slot.metric.postprocess(h.score) }));
}

/** IDF as `fancy_idf` in lib/segment/src/data_types/query_context.rs: ln((n - df + 0.5) / (df + 0.5) + 1). */
export function idfWeight(n: number, df: number): number {
  return Math.log((n - df + 0.5) / (df + 0.5) + 1);
}

function searchSparse(c: Collection, request: SearchRequest, query: SparseVector): SearchHit[] {
  const slot = c.sparse.get(request.using);
  if (slot === undefined) {
    if (c.dense.has(request.using)) throw unimplemented("Querying a dense vector with a sparse vector");
    throw wrongInput(`Not existing vector name error: ${request.using}`);
  }
  let q = query;
  if (slot.idf) {
    const n = slot.storage.pointsCount;
    q = {
      indices: query.indices,
      values: query.values.map((w, i) => w * idfWeight(n, slot.storage.documentFrequency(query.indices[i]))),
    };
  }
  const threshold = request.scoreThreshold;
  const top = new TopK(request.top, byPointId(c));
  // Only points sharing a dimension with the query are found: their posting lists are walked (as
  // Qdrant's inverted index does), and the filter is asked about those points alone.
  slot.storage.score(q, c.matcher(request.filter), (offset, score) => {
    if (threshold === undefined || Math.fround(score) > Math.fround(threshold)) top.push(offset, score);
  });
  return top.sorted().map((h) => ({ ...h, apiScore: h.score }));
}

/** Equal scores in point-id order (Scroll's order): the same answer whatever order points arrived in. */
export function byPointId(c: Collection): TieBreak {
  return (a, b) => comparePointKeys(c.keyAt(a), c.keyAt(b));
}
