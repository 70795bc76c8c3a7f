import { describe, expect, it } from "vitest";
import { sortSparse, SparseVectorStorage, type SparseVector } from "../../../src/embedded/qdrant/sparse-storage.js";

/** The definition the posting lists must match bit for bit: shared dimensions in ascending order. */
function referenceDot(stored: SparseVector, query: SparseVector): number | undefined {
  let i = 0;
  let j = 0;
  let sum = 0;
  let shared = false;
  while (i < stored.indices.length && j < query.indices.length) {
    if (stored.indices[i] === query.indices[j]) {
      sum += stored.values[i] * query.values[j];
      shared = true;
      i++;
      j++;
    } else if (stored.indices[i] < query.indices[j]) i++;
    else j++;
  }
  return shared ? sum : undefined;
}

/** A small deterministic generator, so a failure names a reproducible case. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function randomSparse(next: () => number, dimensions: number, count: number): SparseVector {
  const indices = new Set<number>();
  while (indices.size < count) indices.add(Math.floor(next() * dimensions));
  const list = [...indices];
  return sortSparse(
    list,
    list.map(() => next() * 4 - 1),
  );
}

function scores(storage: SparseVectorStorage, query: SparseVector, accept = (_: number) => true): Map<number, number> {
  const found = new Map<number, number>();
  storage.score(query, accept, (offset, score) => {
    expect(found.has(offset)).toBe(false);
    found.set(offset, score);
  });
  return found;
}

describe("SparseVectorStorage", () => {
  it("scores through posting lists exactly as the dot product over shared dimensions, across sets, replacements and clears", () => {
    const next = generator(7);
    const storage = new SparseVectorStorage();
    const live = new Map<number, SparseVector>();
    for (let step = 0; step < 3_000; step++) {
      const offset = Math.floor(next() * 400);
      if (next() < 0.25) {
        storage.clear(offset);
        live.delete(offset);
      } else {
        const vector = randomSparse(next, 300, 1 + Math.floor(next() * 20));
        storage.set(offset, vector);
        live.set(offset, vector);
      }
    }
    expect(storage.pointsCount).toBe(live.size);
    for (let round = 0; round < 50; round++) {
      const query = randomSparse(next, 300, 1 + Math.floor(next() * 12));
      const expected = new Map<number, number>();
      for (const [offset, vector] of live) {
        const dot = referenceDot(vector, query);
        if (dot !== undefined) expected.set(offset, dot);
      }
      expect(scores(storage, query)).toEqual(expected);
    }
  });

  it("counts each dimension's points for Idf as they are set, replaced and cleared", () => {
    const storage = new SparseVectorStorage();
    storage.set(0, sortSparse([1, 2], [1, 1]));
    storage.set(1, sortSparse([2, 3], [1, 1]));
    storage.set(0, sortSparse([3], [1]));
    expect([1, 2, 3].map((index) => storage.documentFrequency(index))).toEqual([0, 1, 2]);
    storage.clear(1);
    storage.clear(1);
    expect([1, 2, 3].map((index) => storage.documentFrequency(index))).toEqual([0, 0, 1]);
  });

  it("finds a point whose shared dimension contributes zero, skips points sharing none, and asks the filter only about found points", () => {
    const storage = new SparseVectorStorage();
    storage.set(0, sortSparse([5], [0]));
    storage.set(1, sortSparse([6], [2]));
    storage.set(2, sortSparse([5, 6], [1, 1]));
    const asked: number[] = [];
    const found = scores(storage, sortSparse([5], [3]), (offset) => {
      asked.push(offset);
      return offset !== 2;
    });
    expect([...found]).toEqual([[0, 0]]);
    expect(asked.sort()).toEqual([0, 2]);
  });
});
