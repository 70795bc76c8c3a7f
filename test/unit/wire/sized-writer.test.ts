import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import { lengthDelimitedSize, SizedWriter, varintSize } from "../../../src/wire/sized-writer.js";

describe("SizedWriter", () => {
  it.each([1, 15, 16, 2047, 2048, 536_870_911])("writes field %i's tag and length as BinaryWriter does", (no) => {
    for (const length of [0, 127, 128, 16_383, 16_384, 12_288 * 512]) {
      const expected = new BinaryWriter().tag(no, WireType.LengthDelimited).uint32(length).finish();
      const size = lengthDelimitedSize(no, length) - length;
      const written = new SizedWriter(size).lengthDelimited(no, length).finish();
      expect(written).toEqual(expected);
      expect(size).toBe(expected.length);
    }
  });

  it("sizes varints as BinaryWriter writes them", () => {
    for (const value of [0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 2 ** 28, 2 ** 32 - 1]) {
      expect(varintSize(value)).toBe(new BinaryWriter().uint32(value).finish().length);
    }
  });

  it("leaves room for a prefix and refuses to finish short or long", () => {
    const writer = new SizedWriter(3, 5).raw(Uint8Array.of(1, 2));
    expect(writer.position).toBe(7);
    expect(() => writer.finish()).toThrow(/wrote 7 bytes into a buffer of 8/);
    writer.raw(Uint8Array.of(3));
    expect(writer.finish()).toEqual(Uint8Array.of(0, 0, 0, 0, 0, 1, 2, 3));
  });
});
