import type { UnknownField } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { float32Bytes, float32FromBytes, LITTLE_ENDIAN } from "./float32.js";
import { SizedWriter, tagSize, varintSize } from "./sized-writer.js";

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
 * otherwise (see `alignInPlace`); never a JS number[].
 */
export type { UnknownField };

/** Thrown for bytes no protobuf encoder writes for a `repeated float`; callers name the field. */
export class MalformedFloatsError extends Error {
  override readonly name = "MalformedFloatsError";
}

export interface FloatsFromUnknownOptions {
  /**
   * A single packed chunk that is not 4-byte aligned is moved, within the message's own buffer, 1-3
   * bytes back over its own tag and length prefix, and viewed there, instead of being copied into a
   * new buffer. A new 12 KiB buffer per vector costs far more than the move (zero-filled pages faulted
   * in one by one: ~12 us per vector in the service's ingest stream; moving bytes just read, well under
   * 1). Afterwards the field's unknown-field record no longer holds its bytes: only for messages that
   * are read once and never re-encoded (our server's requests, not a message that is journalled).
   */
  alignInPlace?: boolean;
}

/**
 * The floats of field `no` held in `unknown`, in wire order; undefined when the field is absent. Throws
 * MalformedFloatsError for a wrong wire type, a bad length prefix or a packed chunk that is not a whole
 * number of floats.
 */
export function floatsFromUnknown(
  unknown: readonly UnknownField[] | undefined,
  no: number,
  options: FloatsFromUnknownOptions = {},
): Float32Array | undefined {
  if (unknown === undefined) {
    return undefined;
  }
  let first: Chunk | undefined;
  let chunks: Uint8Array[] | undefined;
  let byteLength = 0;
  for (const field of unknown) {
    if (field.no !== no) {
      continue;
    }
    const previous = moved.get(field.data);
    if (previous !== undefined) {
      return previous; // moved by an earlier read: its bytes no longer parse
    }
    const chunk = floatBytes(field);
    if (first === undefined) {
      first = chunk;
    } else {
      (chunks ??= [first.body]).push(chunk.body);
    }
    byteLength += chunk.body.length;
  }
  if (first === undefined) {
    return undefined;
  }
  if (chunks !== undefined) {
    return float32FromBytes(concat(chunks, byteLength));
  }
  const { body, headerBytes, field } = first;
  const shift = body.byteOffset % 4;
  if (
    options.alignInPlace === true &&
    LITTLE_ENDIAN &&
    shift !== 0 &&
    shift <= headerBytes + tagSize(no, WireType.LengthDelimited)
  ) {
    // The `shift` bytes before the floats are this field's own tag and length prefix (protobuf-es
    // slices `data` right after the tag): moving the floats over them touches no other field.
    new Uint8Array(body.buffer).copyWithin(body.byteOffset - shift, body.byteOffset, body.byteOffset + body.length);
    const floats = new Float32Array(body.buffer, body.byteOffset - shift, body.length >>> 2);
    moved.set(field.data, floats);
    return floats;
  }
  return float32FromBytes(body);
}

/** Fields whose floats were moved in place, by their `data`: read again, they give the same view. */
const moved = new WeakMap<Uint8Array, Float32Array>();

/** Field `no` holding `vector` packed in one chunk, as protobuf-es keeps an unknown field. */
export function packedFloatsField(no: number, vector: Float32Array): UnknownField {
  const bytes = float32Bytes(vector);
  const data = new SizedWriter(varintSize(bytes.length) + bytes.length).varint(bytes.length).raw(bytes).finish();
  return { no, wireType: WireType.LengthDelimited, data };
}

interface Chunk {
  field: UnknownField;
  /** The floats' bytes. */
  body: Uint8Array;
  /** Bytes of the field's own before `body` inside `data` (the length prefix of a packed chunk). */
  headerBytes: number;
}

function floatBytes(field: UnknownField): Chunk {
  if (field.wireType === WireType.Bit32) {
    return { field, body: field.data, headerBytes: -Infinity }; // never moved: it has no prefix of its own
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
  return { field, body: field.data.subarray(reader.pos), headerBytes: reader.pos };
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
