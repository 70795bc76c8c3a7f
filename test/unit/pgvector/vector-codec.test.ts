import { describe, expect, it } from "vitest";
import {
  decodePgvector,
  decodePgvectorInPlace,
  formatPgvector,
  halfBitsToNumber,
  sentDimensions,
  VectorDecodeError,
} from "../../../src/pgvector/vector-codec.js";

// Bytes PGlite's pgvector 0.8 returned for vector_send('[1,2.5,-3]') and halfvec_send('[1,2.5,-3]').
const VECTOR_SEND = Uint8Array.from([0, 3, 0, 0, 63, 128, 0, 0, 64, 32, 0, 0, 192, 64, 0, 0]);
const HALFVEC_SEND = Uint8Array.from([0, 3, 0, 0, 60, 0, 65, 0, 194, 0]);

describe("pgvector binary format", () => {
  it("decodes vector_send: int16 dimension, int16 unused, big-endian float32", () => {
    expect(sentDimensions(VECTOR_SEND)).toBe(3);
    expect(Array.from(decodePgvector(VECTOR_SEND, "vector"))).toEqual([1, 2.5, -3]);
  });

  it("decodes halfvec_send and widens the halves to float32", () => {
    expect(Array.from(decodePgvector(HALFVEC_SEND, "halfvec"))).toEqual([1, 2.5, -3]);
  });

  it("decodes from an unaligned view without touching the source bytes", () => {
    const backing = new Uint8Array(VECTOR_SEND.length + 1);
    backing.set(VECTOR_SEND, 1);
    const view = backing.subarray(1);
    const decoded = decodePgvector(view, "vector");
    expect(Array.from(decoded)).toEqual([1, 2.5, -3]);
    expect(Array.from(view)).toEqual(Array.from(VECTOR_SEND));
  });

  it("keeps every float32 bit pattern (no decimal round trip)", () => {
    const values = Float32Array.from([
      Math.fround(0.1),
      -Math.fround(1e-30),
      3.4028234663852886e38,
      Math.fround(Math.PI),
    ]);
    const bytes = new Uint8Array(4 + values.length * 4);
    const view = new DataView(bytes.buffer);
    view.setInt16(0, values.length);
    values.forEach((value, index) => view.setFloat32(4 + index * 4, value, false));
    expect(decodePgvector(bytes, "vector")).toEqual(values);
  });

  it("decodes in place: an aligned vector becomes a view of its own bytes, anything else a copy", () => {
    const aligned = VECTOR_SEND.slice();
    const decoded = decodePgvectorInPlace(aligned, "vector");
    expect(Array.from(decoded)).toEqual([1, 2.5, -3]);
    expect(decoded.buffer).toBe(aligned.buffer);
    expect(decoded.byteOffset).toBe(4);

    const backing = new Uint8Array(VECTOR_SEND.length + 1);
    backing.set(VECTOR_SEND, 1);
    const unaligned = backing.subarray(1);
    expect(Array.from(decodePgvectorInPlace(unaligned, "vector"))).toEqual([1, 2.5, -3]);
    expect(Array.from(unaligned)).toEqual(Array.from(VECTOR_SEND));

    const half = HALFVEC_SEND.slice();
    expect(Array.from(decodePgvectorInPlace(half, "halfvec"))).toEqual([1, 2.5, -3]);
    expect(Array.from(half)).toEqual(Array.from(HALFVEC_SEND));
    expect(() => decodePgvectorInPlace(VECTOR_SEND.slice(0, 12), "vector")).toThrow(/takes 16 bytes, got 12/);
  });

  it("refuses a value whose length does not match its header", () => {
    expect(() => decodePgvector(VECTOR_SEND.subarray(0, 12), "vector")).toThrow(VectorDecodeError);
    expect(() => decodePgvector(VECTOR_SEND, "halfvec")).toThrow(/takes 10 bytes, got 16/);
    expect(() => sentDimensions(Uint8Array.from([0, 1]))).toThrow(VectorDecodeError);
  });

  it("converts half-precision bits, subnormals and specials included", () => {
    expect(halfBitsToNumber(0x3c00)).toBe(1);
    expect(halfBitsToNumber(0xc000)).toBe(-2);
    expect(halfBitsToNumber(0x7bff)).toBe(65504);
    expect(halfBitsToNumber(0x0001)).toBe(2 ** -24);
    expect(halfBitsToNumber(0x03ff)).toBe(1023 * 2 ** -24);
    expect(halfBitsToNumber(0x8000)).toBe(-0);
    expect(halfBitsToNumber(0x7c00)).toBe(Infinity);
    expect(halfBitsToNumber(0xfc00)).toBe(-Infinity);
    expect(halfBitsToNumber(0x7e00)).toBeNaN();
  });

  it("formats the text form so that parsing it as float32 gives back the same values", () => {
    const values = Float32Array.from([Math.fround(0.1), -Math.fround(1 / 3), 1e-7, 0]);
    const text = formatPgvector(values);
    expect(text.startsWith("[") && text.endsWith("]")).toBe(true);
    const parsed = Float32Array.from(text.slice(1, -1).split(",").map(Number));
    expect(parsed).toEqual(values);
    expect(formatPgvector(new Float32Array(0))).toBe("[]");
  });
});
