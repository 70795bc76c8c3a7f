import { PayloadSchemaType } from "@qdrant/js-client-grpc";
import { describe, expect, it } from "vitest";
import { integerOf, PayloadIndex } from "../../../src/embedded/qdrant/payload-index.js";

// lib/segment/src/index/field_index/utils.rs `value_to_integer`: int64 as is; a double when `v as i64`
// (saturating) converts back to the same f64.
describe("integerOf (value_to_integer)", () => {
  it("keeps int64 values and whole doubles, drops fractions, non-finite and out-of-range doubles", () => {
    expect(integerOf(7n)).toBe(7n);
    expect(integerOf(5)).toBe(5n);
    expect(integerOf(-0)).toBe(0n);
    expect(integerOf(5.5)).toBeUndefined();
    expect(integerOf(Number.NaN)).toBeUndefined();
    expect(integerOf(Infinity)).toBeUndefined();
    expect(integerOf(2 ** 63)).toBe(2n ** 63n - 1n); // saturates to i64::MAX, whose f64 is 2^63
    expect(integerOf(2 ** 64)).toBeUndefined();
    expect(integerOf(-(2 ** 63))).toBe(-(2n ** 63n));
    expect(integerOf(-(2 ** 64))).toBeUndefined();
    expect(integerOf("5")).toBeUndefined();
    expect(integerOf(true)).toBeUndefined();
  });
});

describe("PayloadIndex", () => {
  it("holds a whole double in an integer index and looks it up by the integer", () => {
    const index = new PayloadIndex("n", PayloadSchemaType.Integer, undefined);
    index.add(0, { n: 5n });
    index.add(1, { n: 5 });
    index.add(2, { n: [5.5, 10n, "x"] });
    expect([...index.lookup([index.keyOf(5n)!])].sort()).toEqual([0, 1]);
    expect(index.keysFor({ n: [5.5, 10n, "x"] })).toEqual(["i10"]);
    expect(index.pointsCount).toBe(3);
  });

  it("holds only strings in a keyword index", () => {
    const index = new PayloadIndex("city", PayloadSchemaType.Keyword, undefined);
    expect(index.keysFor({ city: ["Berlin", 1n, null, true] })).toEqual(["sBerlin"]);
  });
});
