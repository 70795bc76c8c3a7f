import { describe, expect, it } from "vitest";
import { norm, normalizedMaxDifference, recall } from "../../../src/pgvector/vector-math.js";

describe("vector comparison", () => {
  it("treats vectors that differ only in length as equal", () => {
    const a = Float32Array.from([3, 4, 0]);
    expect(norm(a)).toBe(5);
    expect(normalizedMaxDifference(a, Float32Array.from([0.6, 0.8, 0]))).toBeLessThan(1e-7);
    expect(normalizedMaxDifference(a, Float32Array.from([4, 3, 0]))).toBeCloseTo(0.2, 6);
  });

  it("never calls vectors of different lengths, zero or non-finite vectors equal", () => {
    expect(normalizedMaxDifference(Float32Array.from([1, 0]), Float32Array.from([1, 0, 0]))).toBe(Infinity);
    expect(normalizedMaxDifference(Float32Array.from([0, 0]), Float32Array.from([0, 0]))).toBe(Infinity);
    expect(normalizedMaxDifference(Float32Array.from([Number.NaN, 1]), Float32Array.from([1, 1]))).toBe(Infinity);
  });

  it("computes recall as the share of expected ids found, case-insensitively", () => {
    expect(recall(["a", "b", "c", "d"], ["A", "b", "x"])).toBe(0.5);
    expect(recall([], ["a"])).toBe(1);
    expect(recall(["a"], [])).toBe(0);
  });
});
