import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../../src/core/errors.js";
import { requireUuid, requireVector, requireText } from "../../../src/core/validate.js";

function field(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof InvalidArgumentError) {
      return error.field;
    }
    throw error;
  }
  return "(no error)";
}

describe("validation", () => {
  it("lower-cases UUIDs and names the field of a bad one", () => {
    expect(requireUuid("0B6F1C9E-3C1A-4F0E-9D5E-2A7C8B9D0E1F", "id")).toBe("0b6f1c9e-3c1a-4f0e-9d5e-2a7c8b9d0e1f");
    expect(field(() => requireUuid("", "embeddings[2].id"))).toBe("embeddings[2].id");
    expect(field(() => requireUuid("0b6f1c9e3c1a4f0e9d5e2a7c8b9d0e1f", "catalog_id"))).toBe("catalog_id");
  });

  it("checks vector length, finiteness and non-zero in one pass, naming the bad index", () => {
    const vector = new Float32Array(8).fill(0.5);
    expect(requireVector(vector, 8, "v")).toBe(vector);
    expect(field(() => requireVector(new Float32Array(7).fill(1), 8, "v"))).toBe("v");
    const withNaN = new Float32Array(8).fill(1);
    withNaN[6] = Number.NaN;
    expect(field(() => requireVector(withNaN, 8, "v"))).toBe("v[6]");
    const withInfinity = new Float32Array(9).fill(1);
    withInfinity[8] = Number.NEGATIVE_INFINITY;
    expect(field(() => requireVector(withInfinity, 9, "v"))).toBe("v[8]");
    expect(field(() => requireVector(new Float32Array(8), 8, "v"))).toBe("v");
    // Extremes are finite: the largest float32, and a lone subnormal is not zero.
    const huge = new Float32Array(4).fill(3.4e38);
    expect(requireVector(huge, 4, "v")).toBe(huge);
    const tiny = new Float32Array(5);
    tiny[4] = -1e-45;
    expect(requireVector(tiny, 5, "v")).toBe(tiny);
    // Negative zeros are zeros; a NaN with the sign bit set is a NaN; views at any offset are read.
    expect(field(() => requireVector(new Float32Array(6).fill(-0), 6, "v"))).toBe("v");
    const negativeNaN = new Float32Array(6).fill(2);
    new DataView(negativeNaN.buffer).setUint32(12, 0xffc00001, true);
    expect(field(() => requireVector(negativeNaN, 6, "v"))).toBe("v[3]");
    const view = new Float32Array(new Float32Array([Number.NaN, 1, 1, 1, 1, 1]).buffer, 4, 5);
    expect(requireVector(view, 5, "v")).toBe(view);
  });

  it("measures text limits in UTF-8 bytes", () => {
    expect(requireText("é".repeat(4), "content", 8)).toBe("éééé");
    expect(field(() => requireText("é".repeat(5), "content", 8))).toBe("content");
    expect(field(() => requireText("   ", "content", 8))).toBe("content");
  });
});
