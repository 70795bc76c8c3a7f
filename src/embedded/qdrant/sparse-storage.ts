/**
 * Sparse vectors of one (collection, vector name), by point offset, indices sorted ascending as Qdrant
 * keeps them. `documentFrequency` counts the points holding each index, for the Idf modifier.
 */
export interface SparseVector {
  indices: Uint32Array;
  values: Float32Array;
}

export class SparseVectorStorage {
  private readonly vectors: (SparseVector | undefined)[] = [];
  private readonly df = new Map<number, number>();
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

  documentFrequency(index: number): number {
    return this.df.get(index) ?? 0;
  }

  set(offset: number, vector: SparseVector): void {
    this.clear(offset);
    this.vectors[offset] = vector;
    this.count++;
    for (const i of vector.indices) this.df.set(i, (this.df.get(i) ?? 0) + 1);
  }

  clear(offset: number): void {
    const old = this.vectors[offset];
    if (old === undefined) return;
    this.vectors[offset] = undefined;
    this.count--;
    for (const i of old.indices) {
      const n = (this.df.get(i) ?? 1) - 1;
      if (n === 0) this.df.delete(i);
      else this.df.set(i, n);
    }
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

/** Dot product of two index-sorted sparse vectors; `weight` scales each shared index (Idf). */
export function sparseDot(a: SparseVector, b: SparseVector, weight?: (index: number) => number): number {
  let i = 0;
  let j = 0;
  let sum = 0;
  while (i < a.indices.length && j < b.indices.length) {
    const ai = a.indices[i];
    const bj = b.indices[j];
    if (ai === bj) {
      sum += a.values[i] * b.values[j] * (weight ? weight(ai) : 1);
      i++;
      j++;
    } else if (ai < bj) i++;
    else j++;
  }
  return sum;
}
