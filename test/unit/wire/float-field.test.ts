import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import {
  floatsFromUnknown,
  MalformedFloatsError,
  packedFloatsField,
  type UnknownField,
} from "../../../src/wire/float-field.js";
import { float32Bytes, float32FromBytes } from "../../../src/wire/float32.js";
import { ENCODINGS, sampleVector, writeFloats } from "../server/wire/encodings.js";

/** What protobuf-es keeps for an undeclared field: the bytes after each tag (reader.skip). */
function unknownFieldsOf(bytes: Uint8Array): UnknownField[] {
  const fields: UnknownField[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const tag = bytes[pos++]; // field numbers < 16 in these tests: one-byte tags
    const no = tag >>> 3;
    const wireType = tag & 7;
    const start = pos;
    if (wireType === WireType.Bit32) {
      pos += 4;
    } else {
      let length = 0;
      let shift = 0;
      for (;;) {
        const b = bytes[pos++];
        length += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if ((b & 0x80) === 0) break;
      }
      pos += length;
    }
    fields.push({ no, wireType, data: bytes.subarray(start, pos) });
  }
  return fields;
}

describe("floatsFromUnknown", () => {
  const vector = sampleVector(3072);

  it.each(ENCODINGS)("reads the %s encoding as the same floats", (encoding) => {
    const bytes = writeFloats(new BinaryWriter(), 8, vector, encoding).finish();
    const floats = floatsFromUnknown(unknownFieldsOf(bytes), 8);
    expect(floats).toEqual(vector);
  });

  it("ignores other fields and returns undefined when the field is absent", () => {
    const writer = new BinaryWriter().tag(3, WireType.LengthDelimited).string("table");
    writeFloats(writer, 8, vector.subarray(0, 4), "packed");
    const fields = unknownFieldsOf(writer.finish());
    expect(floatsFromUnknown(fields, 9)).toBeUndefined();
    expect(floatsFromUnknown(undefined, 8)).toBeUndefined();
    expect(floatsFromUnknown(fields, 8)).toEqual(vector.subarray(0, 4));
  });

  it("views aligned packed bytes in place and copies misaligned ones", () => {
    for (const pad of [0, 1, 2, 3]) {
      const buffer = new Uint8Array(pad + 2 + 12 + 8);
      const body = new Uint8Array(new Float32Array([1.5, -2, 3]).buffer);
      buffer.set([12], pad + 1); // a fake tag byte at pad, then the length prefix
      buffer.set(body, pad + 2);
      const data = buffer.subarray(pad + 1, pad + 2 + 12);
      const floats = floatsFromUnknown([{ no: 1, wireType: WireType.LengthDelimited, data }], 1);
      expect(Array.from(floats ?? [])).toEqual([1.5, -2, 3]);
      expect(floats?.buffer === buffer.buffer).toBe((pad + 2) % 4 === 0);
    }
  });

  it("rejects a packed chunk that is not a whole number of floats", () => {
    const data = Uint8Array.from([6, 0, 0, 128, 63, 0, 0]);
    expect(() => floatsFromUnknown([{ no: 8, wireType: WireType.LengthDelimited, data }], 8)).toThrow(
      MalformedFloatsError,
    );
  });

  it("rejects a length prefix that overruns the field", () => {
    const data = Uint8Array.from([8, 0, 0, 128, 63]);
    expect(() => floatsFromUnknown([{ no: 8, wireType: WireType.LengthDelimited, data }], 8)).toThrow(
      /not a whole number/,
    );
  });

  it("rejects varint and fixed64 wire types", () => {
    expect(() => floatsFromUnknown([{ no: 8, wireType: WireType.Varint, data: Uint8Array.from([1]) }], 8)).toThrow(
      /wire type 0/,
    );
    expect(() => floatsFromUnknown([{ no: 8, wireType: WireType.Bit64, data: new Uint8Array(8) }], 8)).toThrow(
      /wire type 1/,
    );
  });
});

describe("packedFloatsField", () => {
  it("writes the packed chunk protobuf-es writes for a repeated float, and reads back as the same floats", () => {
    const vector = sampleVector(3072, 7);
    const field = packedFloatsField(8, vector);
    const written = new BinaryWriter().tag(8, WireType.LengthDelimited).bytes(float32Bytes(vector)).finish();
    expect(field.wireType).toBe(WireType.LengthDelimited);
    expect(field.data).toEqual(written.subarray(1)); // the one-byte tag is not part of an unknown field's data
    expect(floatsFromUnknown([field], 8)).toEqual(vector);
  });
});

describe("float32FromBytes and float32Bytes", () => {
  it("reads little-endian float32 bytes at any offset", () => {
    const floats = new Float32Array([0.25, -1e-30, 3.4e38, -0]);
    const bytes = new Uint8Array(new Uint8Array(floats.buffer).length + 3);
    bytes.set(new Uint8Array(floats.buffer), 3);
    expect(float32FromBytes(bytes.subarray(3))).toEqual(floats);
  });

  it("gives the little-endian bytes DataView writes", () => {
    const floats = new Float32Array([1.5, -2, 1e-7]);
    const expected = new Uint8Array(12);
    floats.forEach((value, i) => new DataView(expected.buffer).setFloat32(i * 4, value, true));
    expect(float32Bytes(floats.subarray(1))).toEqual(expected.subarray(4));
  });
});

describe("floatsFromUnknown with alignInPlace", () => {
  const vector = sampleVector(3072, 3);

  /** A message: a string field of `pad` bytes, the packed vector as field 8, then a trailing string. */
  function message(pad: number): Uint8Array {
    const writer = new BinaryWriter().tag(2, WireType.LengthDelimited).string("x".repeat(pad));
    writeFloats(writer, 8, vector, "packed");
    return writer.tag(9, WireType.LengthDelimited).string("after").finish();
  }

  it.each([0, 1, 2, 3])("views the floats in the message's own buffer whatever their offset (pad %i)", (pad) => {
    const bytes = message(pad);
    const fields = unknownFieldsOf(bytes);
    const floats = floatsFromUnknown(fields, 8, { alignInPlace: true });
    expect(floats).toEqual(vector);
    expect(floats?.buffer).toBe(bytes.buffer);
    // The fields around it are untouched, and a second read gives the same floats.
    expect(new TextDecoder().decode(fields[0].data.subarray(1))).toBe("x".repeat(pad));
    expect(new TextDecoder().decode(fields[2].data.subarray(1))).toBe("after");
    const again = floatsFromUnknown(fields, 8, { alignInPlace: true });
    expect(again).toEqual(vector);
    expect(again?.byteOffset).toBe(floats?.byteOffset);
  });

  it("copies split or unpacked floats, which have no prefix of their own to move over", () => {
    for (const encoding of ["split-packed", "unpacked"] as const) {
      const bytes = writeFloats(
        new BinaryWriter().tag(2, WireType.LengthDelimited).string("x"),
        8,
        vector,
        encoding,
      ).finish();
      const floats = floatsFromUnknown(unknownFieldsOf(bytes), 8, { alignInPlace: true });
      expect(floats).toEqual(vector);
      expect(floats?.buffer).not.toBe(bytes.buffer);
    }
  });
});
