import { describe, expect, it } from "vitest";
import { parseJsonPath, valuesAt } from "../../../src/embedded/qdrant/json-path.js";
import { deletePayloadKeys, mergePayload } from "../../../src/embedded/qdrant/payload-edit.js";
import type { PayloadObject } from "../../../src/embedded/qdrant/payload.js";

describe("json paths (lib/segment/src/json_path/mod.rs)", () => {
  const payload: PayloadObject = { arr: [{ a: [1n, 2n] }, { a: 4n }, { b: 5n }], o: { "x.y": "dotted" }, n: null };

  it("returns arrays whole without [] and fans out with []", () => {
    expect(valuesAt(payload, parseJsonPath("arr[].a")!)).toEqual([[1n, 2n], 4n]);
    expect(valuesAt(payload, parseJsonPath("arr[].a[]")!)).toEqual([1n, 2n]);
    expect(valuesAt(payload, parseJsonPath("arr.a")!)).toEqual([]);
    expect(valuesAt(payload, parseJsonPath("arr[1].a")!)).toEqual([4n]);
  });

  it("reads quoted keys containing dots and null values", () => {
    expect(valuesAt(payload, parseJsonPath('o."x.y"')!)).toEqual(["dotted"]);
    expect(valuesAt(payload, parseJsonPath("n")!)).toEqual([null]);
    expect(parseJsonPath("a..b")).toBeNull();
  });

  it("merges under a key and deletes nested keys without touching the original", () => {
    const original = { a: { b: 1n, c: 2n }, keep: true };
    const merged = mergePayload(original, { d: 3n }, "a");
    expect(merged).toEqual({ a: { b: 1n, c: 2n, d: 3n }, keep: true });
    expect(deletePayloadKeys(merged, ["a.b", "keep"])).toEqual({ a: { c: 2n, d: 3n } });
    expect(original).toEqual({ a: { b: 1n, c: 2n }, keep: true });
  });
});
