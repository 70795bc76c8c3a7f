import { describe, expect, it } from "vitest";
import { fuseRrf } from "../../../src/stores/rrf-fusion.js";
import type { HybridHits } from "../../../src/stores/vector-store.js";

const hit = (id: string, score: number, hash: string): HybridHits["hits"][number] => ({
  id,
  score,
  payload: { kind: "column", schema: null, table: null, content_hash: hash },
});

describe("fuseRrf", () => {
  it("sums 1 / (position + 2) over the lists, in float32", () => {
    const fused = fuseRrf([[hit("a", 0.9, "h1"), hit("b", 0.8, "h2")], [hit("b", 5, "h2")]]);
    expect(fused.map((h) => h.id)).toEqual(["b", "a"]);
    expect(fused[0].score).toBe(Math.fround(Math.fround(1 / 3) + Math.fround(1 / 2)));
    expect(fused[1].score).toBe(Math.fround(1 / 2));
  });

  it("ranks tied scores by content hash, whatever order a list arrived in and whatever the ids", () => {
    const dense = [hit("x", 0.9, "h0")];
    // Two chunks tie in the sparse list; their ids order them one way here...
    const sparseA = [hit("id-2", 1.5, "aaa"), hit("id-1", 1.5, "bbb")];
    // ...and the other way in a copy of the catalog (other ids, same content).
    const sparseB = [hit("id-9", 1.5, "bbb"), hit("id-8", 1.5, "aaa")];
    const a = fuseRrf([dense, sparseA]).map((h) => [h.payload?.content_hash, h.score]);
    const b = fuseRrf([dense, sparseB]).map((h) => [h.payload?.content_hash, h.score]);
    expect(a).toEqual(b);
    // "aaa" and "h0" both lead a list (1/2 each): equal fused scores, again by content hash.
    expect(a.map(([hash]) => hash)).toEqual(["aaa", "h0", "bbb"]);
  });
});
