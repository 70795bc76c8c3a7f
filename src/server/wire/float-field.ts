import { endianness } from "node:os";

/**
 * Reads a `repeated float` field from the raw wire bytes protobuf-es keeps for a field its schema does
 * not declare (`$unknown`). A sender may encode the field packed in one length-delimited chunk (what
 * every protobuf library writes for proto3), packed in several chunks (legal: parsers must concatenate
 * them), or unpacked as one fixed32 value per float (legal, proto2 style). All three yield the same
 * floats. Packed in one chunk, the result is a view over the request's own bytes when they are 4-byte
 * aligned and a ~2 us copy otherwise; never a JS number[].
 */

/** protobuf-es's unknown-field record: `data` excludes the tag, includes a length prefix for LEN. */
export interface UnknownField {
  readonly no: number;
  readonly wireType: number;
  readonly data: Uint8Array;
}

export const WIRE_FIXED32 = 5;
export const WIRE_LEN = 2;

const LITTLE_ENDIAN = endianness() === "LE";

/** Thrown for bytes no protobuf encoder writes for a `repeated float`; callers name the field. */
export class MalformedFloatsError extends Error {
  override readonly name = "MalformedFloatsError";
}

/**
 * The floats of field `no` held in `unknown`, in wire order; undefined when the field is absent. Throws
 * MalformedFloatsError for a wrong wire type or a packed chunk that is not a whole number of floats.
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
  if (chunks !== undefined) {
    return fromLittleEndian(concat(chunks, byteLength));
  }
  return fromLittleEndian(first);
}

function floatBytes(field: UnknownField): Uint8Array {
  if (field.wireType === WIRE_FIXED32) {
    return field.data;
  }
  if (field.wireType !== WIRE_LEN) {
    throw new MalformedFloatsError(
      `has wire type ${field.wireType}; floats are sent packed (2) or as fixed32 values (5)`,
    );
  }
  const { value: length, size } = readLengthPrefix(field.data);
  if (size + length !== field.data.length || length % 4 !== 0) {
    throw new MalformedFloatsError(`holds a packed chunk of ${length} bytes, not a whole number of 4-byte floats`);
  }
  return field.data.subarray(size);
}

/** A Float32Array over little-endian float32 bytes: a view when aligned, else a copy. */
export function fromLittleEndian(bytes: Uint8Array): Float32Array {
  const count = bytes.length >>> 2;
  if (!LITTLE_ENDIAN) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      out[i] = view.getFloat32(i * 4, true);
    }
    return out;
  }
  if (bytes.byteOffset % 4 === 0) {
    return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  }
  const copy = new Float32Array(count);
  new Uint8Array(copy.buffer).set(bytes);
  return copy;
}

function readLengthPrefix(bytes: Uint8Array): { value: number; size: number } {
  let value = 0;
  for (let i = 0; i < 5 && i < bytes.length; i++) {
    value += (bytes[i] & 0x7f) * 2 ** (7 * i);
    if ((bytes[i] & 0x80) === 0) {
      return { value, size: i + 1 };
    }
  }
  throw new MalformedFloatsError("has a malformed length prefix");
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
