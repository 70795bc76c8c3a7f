/**
 * Dense vectors of one (collection, vector name) in one contiguous, growable Float32Array, addressed
 * by point offset. Exact search walks it sequentially.
 */
export class DenseVectorStorage {
  readonly dim: number;
  private data: Float32Array;
  private present: Uint8Array;

  constructor(dim: number, initialCapacity = 64) {
    this.dim = dim;
    this.data = new Float32Array(initialCapacity * dim);
    this.present = new Uint8Array(initialCapacity);
  }

  get buffer(): Float32Array {
    return this.data;
  }

  has(offset: number): boolean {
    return offset < this.present.length && this.present[offset] === 1;
  }

  set(offset: number, vector: Float32Array): void {
    this.ensure(offset + 1);
    this.data.set(vector, offset * this.dim);
    this.present[offset] = 1;
  }

  clear(offset: number): void {
    if (offset < this.present.length) this.present[offset] = 0;
  }

  /** A copy, so callers may keep it after the slot is reused. */
  get(offset: number): Float32Array | undefined {
    if (!this.has(offset)) return undefined;
    return this.data.slice(offset * this.dim, (offset + 1) * this.dim);
  }

  private ensure(capacity: number): void {
    if (capacity <= this.present.length) return;
    let next = Math.max(this.present.length * 2, 64);
    while (next < capacity) next *= 2;
    const data = new Float32Array(next * this.dim);
    data.set(this.data);
    const present = new Uint8Array(next);
    present.set(this.present);
    this.data = data;
    this.present = present;
  }
}
