import { describe, expect, it } from "vitest";
import { DenseVectorStorage } from "../../../src/embedded/qdrant/vector-storage.js";

function vector(seed: number, dim: number): Float32Array {
  return Float32Array.from({ length: dim }, (_, i) => Math.sin(seed * 31 + i * 7) * 3);
}

function reference(kind: "dot" | "l2" | "l1", a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    if (kind === "dot") s += a[i] * b[i];
    else if (kind === "l2") s -= (a[i] - b[i]) ** 2;
    else s -= Math.abs(a[i] - b[i]);
  }
  return s;
}

describe("dense vector storage", () => {
  for (const dim of [3, 13, 64, 3072]) {
    it(`scores like the reference in wasm SIMD and in JS (dim ${dim}), across growth`, () => {
      const simd = new DenseVectorStorage(dim, { initialCapacity: 2, wasmFromVectors: 1 });
      const plain = new DenseVectorStorage(dim, { initialCapacity: 2, wasmFromVectors: Number.MAX_SAFE_INTEGER });
      const count = dim > 1000 ? 40 : 300; // several page-growths of the wasm memory
      for (let o = 0; o < count; o++) {
        simd.set(o, vector(o, dim));
        plain.set(o, vector(o, dim));
      }
      expect(simd.simd).toBe(true);
      expect(plain.simd).toBe(false);
      const q = vector(999, dim);
      for (const kind of ["dot", "l2", "l1"] as const) {
        const a = simd.scorer(kind, q);
        const b = plain.scorer(kind, q);
        for (const o of [0, 1, count - 1]) {
          const want = reference(kind, vector(o, dim), q);
          const tolerance = Math.max(1e-3, Math.abs(want) * 1e-5);
          expect(Math.abs(a(o) - want)).toBeLessThan(tolerance);
          expect(Math.abs(b(o) - want)).toBeLessThan(tolerance);
        }
      }
      expect(Array.from(simd.get(count - 1)!)).toEqual(Array.from(vector(count - 1, dim)));
      simd.clear(1);
      expect(simd.has(1)).toBe(false);
    });
  }

  it("moves into wasm memory once it grows past the threshold, keeping the vectors", () => {
    // Capacity grows 4 -> 64 -> 128: the move happens when capacity reaches 128.
    const s = new DenseVectorStorage(8, { initialCapacity: 4, wasmFromVectors: 128 });
    for (let o = 0; o < 64; o++) s.set(o, vector(o, 8));
    expect(s.simd).toBe(false);
    for (let o = 64; o < 200; o++) s.set(o, vector(o, 8));
    expect(s.simd).toBe(true);
    for (let o = 0; o < 200; o++) expect(Array.from(s.get(o)!)).toEqual(Array.from(vector(o, 8)));
  });
});
