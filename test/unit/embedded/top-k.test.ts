import { describe, expect, it } from "vitest";
import { TopK } from "../../../src/embedded/qdrant/top-k.js";

describe("TopK", () => {
  it("keeps the k best scores, best first, ties by smaller offset", () => {
    const top = new TopK(3);
    [
      [0, 0.1],
      [1, 0.9],
      [2, 0.5],
      [3, 0.9],
      [4, 0.2],
      [5, 0.95],
    ].forEach(([o, s]) => top.push(o, s));
    expect(top.sorted()).toEqual([
      { offset: 5, score: 0.95 },
      { offset: 1, score: 0.9 },
      { offset: 3, score: 0.9 },
    ]);
  });
});

describe("TopK with a tie-break", () => {
  it("keeps and orders tied scores by the given order, whatever order they arrive in", () => {
    // Offsets 0..5 stand for points whose ids run the other way round (offset 5 has the smallest id).
    const byId = (a: number, b: number) => b - a;
    const pushes: [number, number][] = [
      [0, 0.5],
      [1, 0.7],
      [2, 0.5],
      [3, 0.5],
      [4, 0.7],
      [5, 0.5],
    ];
    const results = [
      pushes,
      [...pushes].reverse(),
      [pushes[3], pushes[0], pushes[5], pushes[1], pushes[2], pushes[4]],
    ].map((order) => {
      const top = new TopK(4, byId);
      for (const [o, s] of order) top.push(o, s);
      return top.sorted();
    });
    const want = [
      { offset: 4, score: 0.7 },
      { offset: 1, score: 0.7 },
      { offset: 5, score: 0.5 },
      { offset: 3, score: 0.5 },
    ];
    for (const r of results) expect(r).toEqual(want);
  });
});
