/**
 * Sparse vectors of one (collection, vector name), by point offset, indices sorted ascending as Qdrant
 * keeps them. `documentFrequency` counts the points holding each index, for the Idf modifier.
 */
export interface SparseVector {
  indices: Uint32Array;
  values: Float32Array;
}

/**
 * One dimension's posting list: the points holding it, with their value there. Entries are appended and
 * never moved; an entry is live while its generation is its point's current one (a replaced or cleared
 * point leaves dead entries behind, dropped once they are half the list).
 */
class Posting {
  offsets = new Int32Array(4);
  generations = new Uint32Array(4);
  values = new Float32Array(4);
  length = 0;
  dead = 0;

  push(offset: number, generation: number, value: number): void {
    if (this.length === this.offsets.length) this.resize(this.length * 2);
    this.offsets[this.length] = offset;
    this.generations[this.length] = generation;
    this.values[this.length] = value;
    this.length++;
  }

  /** Keeps the live entries, in order. */
  compact(current: ArrayLike<number>): void {
    let kept = 0;
    for (let k = 0; k < this.length; k++) {
      const offset = this.offsets[k];
      if (this.generations[k] !== current[offset]) continue;
      this.offsets[kept] = offset;
      this.generations[kept] = this.generations[k];
      this.values[kept] = this.values[k];
      kept++;
    }
    this.length = kept;
    this.dead = 0;
    if (kept * 4 < this.offsets.length && this.offsets.length > 4) this.resize(Math.max(4, kept * 2));
  }

  private resize(capacity: number): void {
    const grow = <T extends Int32Array | Uint32Array | Float32Array>(old: T, next: T): T => {
      next.set(old.subarray(0, this.length));
      return next;
    };
    this.offsets = grow(this.offsets, new Int32Array(capacity));
    this.generations = grow(this.generations, new Uint32Array(capacity));
    this.values = grow(this.values, new Float32Array(capacity));
  }
}

export class SparseVectorStorage {
  private readonly vectors: (SparseVector | undefined)[] = [];
  /** Points by dimension, so a search reads only the points that share one with the query (as Qdrant's inverted index). */
  private readonly postings = new Map<number, Posting>();
  /** Each offset's current generation: bumped whenever its vector is set or cleared. */
  private generation = new Uint32Array(64);
  /** Scratch for `score`: one running sum per offset, valid where `seen` holds the current search's number. */
  private sums = new Float64Array(64);
  private seen = new Uint32Array(64);
  private searches = 0;
  private count = 0;

  get pointsCount(): number {
    return this.count;
  }

  has(offset: number): boolean {
    return this.vectors[offset] !== undefined;
  }

  get(offset: number): SparseVector | undefined {
    return this.vectors[offset];
  }

  /** How many points hold `index`, for the Idf modifier. */
  documentFrequency(index: number): number {
    const posting = this.postings.get(index);
    return posting === undefined ? 0 : posting.length - posting.dead;
  }

  set(offset: number, vector: SparseVector): void {
    this.clear(offset);
    this.vectors[offset] = vector;
    this.count++;
    const generation = this.bump(offset);
    for (let i = 0; i < vector.indices.length; i++) {
      const index = vector.indices[i];
      let posting = this.postings.get(index);
      if (posting === undefined) this.postings.set(index, (posting = new Posting()));
      posting.push(offset, generation, vector.values[i]);
    }
  }

  clear(offset: number): void {
    const old = this.vectors[offset];
    if (old === undefined) return;
    this.vectors[offset] = undefined;
    this.count--;
    this.bump(offset);
    for (const index of old.indices) {
      const posting = this.postings.get(index)!;
      posting.dead++;
      if (posting.dead === posting.length) this.postings.delete(index);
      else if (posting.dead * 2 > posting.length) posting.compact(this.generation);
    }
  }

  /**
   * Calls `visit` once for every point that shares a dimension with `query` and passes `accept`, with
   * its dot product: the sum over shared dimensions in ascending order, as `sparseDot(stored, query)`
   * adds them, so the score is the same to the last bit.
   */
  score(
    query: SparseVector,
    accept: (offset: number) => boolean,
    visit: (offset: number, score: number) => void,
  ): void {
    const touched: number[] = [];
    const { sums, seen, generation } = this;
    if (++this.searches === 2 ** 32) {
      seen.fill(0);
      this.searches = 1;
    }
    const search = this.searches;
    for (let q = 0; q < query.indices.length; q++) {
      const posting = this.postings.get(query.indices[q]);
      if (posting === undefined) continue;
      const weight = query.values[q];
      const { offsets, generations, values, length } = posting;
      for (let k = 0; k < length; k++) {
        const offset = offsets[k];
        if (generations[k] !== generation[offset]) continue;
        if (seen[offset] !== search) {
          seen[offset] = search;
          sums[offset] = 0;
          touched.push(offset);
        }
        sums[offset] += values[k] * weight;
      }
    }
    for (const offset of touched) if (accept(offset)) visit(offset, sums[offset]);
  }

  private bump(offset: number): number {
    if (offset >= this.generation.length) {
      const capacity = Math.max(offset + 1, this.generation.length * 2);
      const generation = new Uint32Array(capacity);
      generation.set(this.generation);
      this.generation = generation;
      this.sums = new Float64Array(capacity);
      const seen = new Uint32Array(capacity);
      seen.set(this.seen);
      this.seen = seen;
    }
    return ++this.generation[offset];
  }
}

/** Sorts by index; duplicates are rejected by the caller before this. */
export function sortSparse(indices: readonly number[], values: readonly number[]): SparseVector {
  const order = indices.map((_, i) => i).sort((a, b) => indices[a] - indices[b]);
  return {
    indices: Uint32Array.from(order, (i) => indices[i]),
    values: Float32Array.from(order, (i) => values[i]),
  };
}
