import { describe, expect, it } from "vitest";
import { BM25_K1, encodeSparse, sparseTermId } from "../../../src/embedders/sparse-encoder.js";

describe("encodeSparse", () => {
  it("gives each stem one id, sorted ascending and unique", () => {
    const { indices, values } = encodeSparse("singers Singer singer_id stadium of the");
    expect(indices).toBeInstanceOf(Uint32Array);
    expect(values).toBeInstanceOf(Float32Array);
    expect(indices.length).toBe(3); // singer, id, stadium
    expect(values.length).toBe(indices.length);
    for (let i = 1; i < indices.length; i++) expect(indices[i]).toBeGreaterThan(indices[i - 1]);
    expect(Array.from(indices).sort((a, b) => a - b)).toEqual(
      [sparseTermId("singer"), sparseTermId("id"), sparseTermId("stadium")].sort((a, b) => a - b),
    );
  });

  it("saturates term frequency the BM25 way", () => {
    const { indices, values } = encodeSparse("singers Singer singer_id stadium");
    const value = (stem: string): number => values[Array.from(indices).indexOf(sparseTermId(stem))];
    expect(value("stadium")).toBeCloseTo(1, 6);
    expect(value("singer")).toBeCloseTo((3 * (BM25_K1 + 1)) / (3 + BM25_K1), 6);
    const many = encodeSparse("singer ".repeat(100));
    expect(many.values[0]).toBeLessThan(BM25_K1 + 1);
  });

  it("is stable: ids do not depend on the process", () => {
    // Stored sparse vectors depend on these; a change here means re-indexing.
    expect(sparseTermId("singer")).toBe(sparseTermId("singer"));
    expect(encodeSparse("singers").indices[0]).toBe(sparseTermId("singer"));
    expect(sparseTermId("singer")).toMatchInlineSnapshot(`4147188818`);
  });

  it("encodes text without words as an empty vector", () => {
    const { indices, values } = encodeSparse("?! the of");
    expect(indices.length).toBe(0);
    expect(values.length).toBe(0);
  });
});
