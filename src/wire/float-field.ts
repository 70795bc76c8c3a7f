import type { UnknownField } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { float32Bytes, float32FromBytes } from "./float32.js";
import { SizedWriter, varintSize } from "./sized-writer.js";

/**
 * A `repeated float` field read from, and written as, the raw wire bytes protobuf-es keeps for a field
 * its schema does not declare (`$unknown`: `data` excludes the tag and includes the length prefix of a
 * length-delimited field). Shadow schemas (shadow-registry.ts) leave vector fields undeclared so that
 * nobody turns 3072 floats into JS numbers: our server reads request vectors this way, the embedded
 * Qdrant reads and journals points this way.
 *
 * A sender may encode the field packed in one length-delimited chunk (what every protobuf library
 * writes for proto3), packed in several chunks (legal: parsers concatenate them), or unpacked as one
 * fixed32 value per float (legal, proto2 style), or mix them. All yield the same floats. Packed in one
 * chunk, the result is a view over the message's own bytes when they are 4-byte aligned and a copy
 * otherwise; never a JS number[].
 */
export type { UnknownField };

/** Thrown for bytes no protobuf encoder writes for a `repeated float`; callers name the field. */
export class MalformedFloatsError extends Error {
  override readonly name = "MalformedFloatsError";
}

/**
 * The floats of field `no` held in `unknown`, in wire order; undefined when the field is absent. Throws
 * MalformedFloatsError for a wrong wire type, a bad length prefix or a packed chunk that is not a whole
 * number of floats.
 */
export function floatsFromUnknown(unknown: readonly UnknownField[] | undefined, no: number): Float32Array | undefined {
  if (unknown === undefined) {
    return undefined;
  }
  let first: Uint8Array | undefined;
  let chunks: Uint8Array[] | undefined;
  let byteLength = 0;
  for (const field of unknown) {
    if (field.no !== no) {
      continue;
    }
    const chunk = floatBytes(field);
    if (first === undefined) {
      first = chunk;
    } else {
      (chunks ??= [first]).push(chunk);
    }
    byteLength += chunk.length;
  }
  if (first === undefined) {
    return undefined;
  }
  return float32FromBytes(chunks === undefined ? first : concat(chunks, byteLength));
}

/** Field `no` holding `vector` packed in one chunk, as protobuf-es keeps an unknown field. */
export function packedFloatsField(no: number, vector: Float32Array): UnknownField {
  const bytes = float32Bytes(vector);
  const data = new SizedWriter(varintSize(bytes.length) + bytes.length).varint(bytes.length).raw(bytes).finish();
  return { no, wireType: WireType.LengthDelimited, data };
}

function floatBytes(field: UnknownField): Uint8Array {
  if (field.wireType === WireType.Bit32) {
    return field.data;
  }
  if (field.wireType !== WireType.LengthDelimited) {
    throw new MalformedFloatsError(
      `has wire type ${field.wireType}; floats are sent packed (2) or as fixed32 values (5)`,
    );
  }
  const reader = new BinaryReader(field.data);
  let length: number;
  try {
    length = reader.uint32();
  } catch {
    throw new MalformedFloatsError("has a malformed length prefix");
  }
  if (reader.pos + length !== field.data.length || length % 4 !== 0) {
    throw new MalformedFloatsError(`holds a packed chunk of ${length} bytes, not a whole number of 4-byte floats`);
  }
  return field.data.subarray(reader.pos);
}

function concat(chunks: readonly Uint8Array[], byteLength: number): Uint8Array {
  const out = new Uint8Array(byteLength);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
