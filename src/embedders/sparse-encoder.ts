/**
 * Sparse lexical vectors for hybrid retrieval: one dimension per stemmed token (from
 * `lexicalTokens`, the same tokenizer the local embedder uses), identified by a stable 32-bit hash,
 * valued by BM25's saturating term frequency `tf * (k1 + 1) / (tf + k1)` without length
 * normalization. Qdrant supplies the IDF (a sparse vector config with `modifier: Idf`).
 */
import { hash32 } from "./hash.js";
import { lexicalTokens } from "./lexical-tokens.js";

export interface SparseVector {
  /** Term ids, ascending and unique. */
  indices: Uint32Array;
  values: Float32Array;
}

/** BM25's term-frequency saturation. */
export const BM25_K1 = 1.2;

/** The id of a stemmed token; stable across processes and releases (stored sparse vectors use it). */
export function sparseTermId(stem: string): number {
  return hash32(stem);
}

export function encodeSparse(text: string): SparseVector {
  // Counted by id, not by stem: two stems whose hashes collide are one term to Qdrant anyway.
  const counts = new Map<number, number>();
  for (const stem of lexicalTokens(text)) {
    const id = sparseTermId(stem);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const indices = Uint32Array.from(counts.keys()).sort();
  const values = new Float32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const tf = counts.get(indices[i]) as number;
    values[i] = (tf * (BM25_K1 + 1)) / (tf + BM25_K1);
  }
  return { indices, values };
}
