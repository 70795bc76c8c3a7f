import { describe, expect, it } from "vitest";
import { TopK } from "../../../src/embedded/qdrant/top-k.js";

describe("TopK", () => {
  it("keeps the k best scores, best first, ties by smaller offset", () => {
    const top = new TopK(3);
    [[0, 0.1], [1, 0.9], [2, 0.5], [3, 0.9], [4, 0.2], [5, 0.95]].forEach(([o, s]) => top.push(o, s));
    expect(top.sorted()).toEqual([
      { offset: 5, score: 0.95 },
      { offset: 1, score: 0.9 },
      { offset: 3, score: 0.9 },
    ]);
  });
});
