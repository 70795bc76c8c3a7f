import { describe, expect, it } from "vitest";
import { dbsf, distributionNormalize, rrf } from "../../../src/embedded/qdrant/fusion.js";

const hits = (...pairs: [number, number][]) => pairs.map(([offset, score]) => ({ offset, score }));

describe("rrf (reciprocal_rank_fusion.rs)", () => {
  it("scores 1 / (position + 2) by default and sums across lists", () => {
    const fused = rrf([hits([1, 0.9], [2, 0.8]), hits([2, 5], [3, 4])]);
    expect(fused.map((h) => h.offset)).toEqual([2, 1, 3]);
    expect(fused[0].score).toBeCloseTo(1 / 3 + 1 / 2, 6);
    expect(fused[1].score).toBeCloseTo(1 / 2, 6);
    expect(fused[2].score).toBeCloseTo(1 / 3, 6);
  });

  it("uses weights and k as 1 / ((position + 1) / w + k - 1), a zero weight adding nothing", () => {
    const fused = rrf([hits([1, 1]), hits([2, 1])], 10, [2, 0]);
    expect(fused.find((h) => h.offset === 1)!.score).toBeCloseTo(1 / (1 / 2 + 9), 6);
    expect(fused.find((h) => h.offset === 2)!.score).toBe(0);
  });
});

describe("dbsf (score_fusion.rs)", () => {
  it("normalises by mean ± 3 sample standard deviations", () => {
    const scores = [3, 2, 1];
    const mean = 2;
    const std = 1;
    const n = distributionNormalize(hits([1, 3], [2, 2], [3, 1]));
    n.forEach((h, i) => expect(h.score).toBeCloseTo((scores[i] - (mean - 3 * std)) / (6 * std), 6));
  });

  it("gives 0.5 to a single hit and to lists without spread", () => {
    expect(distributionNormalize(hits([1, 7]))[0].score).toBe(0.5);
    expect(distributionNormalize(hits([1, 2], [2, 2])).map((h) => h.score)).toEqual([0.5, 0.5]);
  });

  it("sums normalised scores per point", () => {
    const fused = dbsf([hits([1, 3], [2, 2], [3, 1]), hits([3, 10])]);
    expect(fused[0].offset).toBe(3);
    expect(fused[0].score).toBeCloseTo((1 - (2 - 3)) / 6 + 0.5, 5);
  });
});

describe("fusion ties", () => {
  it("orders equal fused scores by the given tie-break, not by which list came first", () => {
    // Offsets 7 and 3 both rank first in one list: equal RRF scores.
    const byIdDescendingOffset = (a: number, b: number) => b - a;
    expect(rrf([hits([3, 0.9]), hits([7, 0.8])], 2, undefined, byIdDescendingOffset).map((h) => h.offset)).toEqual([
      7, 3,
    ]);
    expect(rrf([hits([7, 0.8]), hits([3, 0.9])], 2, undefined, byIdDescendingOffset).map((h) => h.offset)).toEqual([
      7, 3,
    ]);
  });
});
