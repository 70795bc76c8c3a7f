import {
  dot,
  dotF32,
  negManhattan,
  negManhattanF32,
  negSquaredEuclid,
  negSquaredEuclidF32,
  QDRANT_SCALAR_BELOW_DIM,
} from "./distance.js";
import { createWasmMemory, instantiateKernels, type SimdKernels, type WasmMemory } from "./simd-kernels.js";

/** Which kernel a metric scores with; all return "larger is better" similarities. */
export type KernelKind = "dot" | "l2" | "l1";

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
/**
 * A plain Float32Array is used while the storage stays below this many vectors and WASM_FROM_BYTES:
 * wasm memories reserve much address space, so small storages (tests make many) stay plain. A plain
 * array grows by doubling and copying, on the event loop: at 4096 3072-d vectors that copy was 48 MiB
 * (~50 ms) in one step. Past 4 MiB a storage moves to wasm memory, which grows in place.
 */
const WASM_FROM_VECTORS = 4096;
const WASM_FROM_BYTES = 4 * 1024 * 1024;

/**
 * Dense vectors of one (collection, vector name) in one contiguous, growable float32 region,
 * addressed by point offset. Small storages use a plain Float32Array; large ones move into a
 * WebAssembly memory so exact search runs SIMD kernels over it (the query is copied to the start of
 * that memory). Falls back to JS loops when wasm is unavailable or the 4 GiB limit would be passed.
 */
export class DenseVectorStorage {
  readonly dim: number;
  private data: Float32Array;
  private present: Uint8Array;
  private capacity: number;
  private wasm: { memory: WasmMemory; kernels: SimdKernels; base: number } | undefined;
  private readonly wasmFrom: number;

  constructor(dim: number, options: { initialCapacity?: number; wasmFromVectors?: number } = {}) {
    this.dim = dim;
    this.capacity = options.initialCapacity ?? 64;
    this.wasmFrom =
      options.wasmFromVectors ?? Math.min(WASM_FROM_VECTORS, Math.max(64, Math.floor(WASM_FROM_BYTES / (dim * 4))));
    this.data = new Float32Array(this.capacity * dim);
    this.present = new Uint8Array(this.capacity);
    if (this.capacity >= this.wasmFrom) this.moveToWasm(this.capacity);
  }

  /** True when searches run on the SIMD kernels. */
  get simd(): boolean {
    return this.wasm !== undefined;
  }

  has(offset: number): boolean {
    return offset < this.capacity && this.present[offset] === 1;
  }

  /** Stores `vector` divided by `divisor` (1: as is), in one pass: `data[i] = vector[i] / divisor` in float32. */
  set(offset: number, vector: Float32Array, divisor = 1): void {
    this.ensure(offset + 1);
    const base = offset * this.dim;
    if (divisor === 1) {
      this.data.set(vector, base);
    } else {
      const data = this.data;
      for (let i = 0; i < vector.length; i++) data[base + i] = vector[i] / divisor;
    }
    this.present[offset] = 1;
  }

  clear(offset: number): void {
    if (offset < this.capacity) this.present[offset] = 0;
  }

  /** A copy, so callers may keep it after the slot is reused. */
  get(offset: number): Float32Array | undefined {
    if (!this.has(offset)) return undefined;
    return this.data.slice(offset * this.dim, (offset + 1) * this.dim);
  }

  /** A function scoring stored vectors against `query` (valid until the next write). */
  scorer(kind: KernelKind, query: Float32Array): (offset: number) => number {
    const dim = this.dim;
    if (dim < QDRANT_SCALAR_BELOW_DIM) {
      // Qdrant's own scalar order (see distance.ts); `data` is also a view when it lives in wasm memory.
      const data = this.data;
      const q = Float32Array.from(query);
      const f = kind === "dot" ? dotF32 : kind === "l2" ? negSquaredEuclidF32 : negManhattanF32;
      return (offset) => f(data, offset * dim, q, dim);
    }
    const wasm = this.wasm;
    if (wasm !== undefined) {
      new Float32Array(wasm.memory.buffer, 0, dim).set(query);
      const { kernels, base } = wasm;
      const stride = dim * 4;
      switch (kind) {
        case "dot":
          return (offset) => kernels.dot(base + offset * stride, 0, dim);
        case "l2":
          return (offset) => -kernels.l2(base + offset * stride, 0, dim);
        case "l1":
          return (offset) => -kernels.l1(base + offset * stride, 0, dim);
      }
    }
    const data = this.data;
    const f = kind === "dot" ? dot : kind === "l2" ? negSquaredEuclid : negManhattan;
    return (offset) => f(data, offset * dim, query, dim);
  }

  private ensure(needed: number): void {
    if (needed <= this.capacity) return;
    let next = Math.max(this.capacity * 2, 64);
    while (next < needed) next *= 2;
    if (this.wasm !== undefined || next >= this.wasmFrom) {
      if (this.moveToWasm(next)) return;
    }
    const data = new Float32Array(next * this.dim);
    data.set(this.data.subarray(0, this.capacity * this.dim));
    this.data = data;
    this.growPresent(next);
  }

  /** Grows (or creates) the wasm memory to hold `capacity` vectors; false when it cannot. */
  private moveToWasm(capacity: number): boolean {
    const base = Math.ceil((this.dim * 4) / 16) * 16; // the query slot
    const bytes = base + capacity * this.dim * 4;
    const pages = Math.ceil(bytes / PAGE);
    const old = this.data.subarray(0, Math.min(this.capacity, capacity) * this.dim);
    try {
      if (pages > MAX_PAGES) throw new RangeError("beyond 4 GiB");
      if (this.wasm === undefined) {
        const memory = createWasmMemory(pages, MAX_PAGES);
        const kernels = memory === undefined ? undefined : instantiateKernels(memory);
        if (memory === undefined || kernels === undefined) return false;
        this.wasm = { memory, kernels, base };
        const view = new Float32Array(memory.buffer, base, capacity * this.dim);
        view.set(old);
        this.data = view;
      } else {
        const memory = this.wasm.memory;
        const have = memory.buffer.byteLength / PAGE;
        if (pages > have) memory.grow(pages - have);
        this.data = new Float32Array(memory.buffer, base, capacity * this.dim);
      }
    } catch {
      if (this.wasm !== undefined) {
        // Leave wasm for a plain array (beyond 4 GiB): copy out, search with JS loops from now on.
        const data = new Float32Array(capacity * this.dim);
        data.set(old);
        this.data = data;
        this.wasm = undefined;
        this.growPresent(capacity);
        return true;
      }
      return false;
    }
    this.growPresent(capacity);
    return true;
  }

  private growPresent(capacity: number): void {
    if (capacity <= this.present.length) {
      this.capacity = capacity;
      return;
    }
    const present = new Uint8Array(capacity);
    present.set(this.present);
    this.present = present;
    this.capacity = capacity;
  }
}
