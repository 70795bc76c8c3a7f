/**
 * pgvector's binary format, as `vector_send` / `halfvec_send` return it (and as the wire protocol's
 * binary mode carries it): int16 dimension, int16 unused, then the values big-endian, float32 for
 * `vector` and IEEE 754 half precision for `halfvec`. Decoding it is a byte swap, never a parse of
 * decimal text; `halfvec` is widened to float32 exactly (every half is a float32).
 */
import { LITTLE_ENDIAN } from "../wire/float32.js";

export type PgvectorKind = "vector" | "halfvec";

const HEADER_BYTES = 4;

export class VectorDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "VectorDecodeError";
  }
}

/** The dimension a `*_send` value announces in its header. */
export function sentDimensions(bytes: Uint8Array): number {
  if (bytes.byteLength < HEADER_BYTES) {
    throw new VectorDecodeError(`a pgvector value needs at least ${HEADER_BYTES} bytes, got ${bytes.byteLength}`);
  }
  return (bytes[0] << 8) | bytes[1];
}

/** Decodes the output of `vector_send` or `halfvec_send` into a fresh, aligned Float32Array. */
export function decodePgvector(bytes: Uint8Array, kind: PgvectorKind): Float32Array {
  const dimensions = sentDimensions(bytes);
  const width = kind === "vector" ? 4 : 2;
  const expected = HEADER_BYTES + dimensions * width;
  if (bytes.byteLength !== expected) {
    throw new VectorDecodeError(
      `a ${kind} of ${dimensions} dimensions takes ${expected} bytes, got ${bytes.byteLength}`,
    );
  }
  return kind === "vector" ? decodeFloat32BigEndian(bytes, dimensions) : decodeFloat16BigEndian(bytes, dimensions);
}

/**
 * `decodePgvector` for a value read once and never again (the pass's rows): a `vector` whose floats are
 * 4-byte aligned is byte-swapped where it lies and returned as a view of those bytes, so no 12 KiB
 * buffer is allocated and copied per 3072-d row. pg's bytea parser gives every value of that size a
 * buffer of its own (offset 0), so the pass's values always qualify; others are decoded as
 * `decodePgvector` does. `bytes` no longer holds pgvector's format afterwards.
 */
export function decodePgvectorInPlace(bytes: Uint8Array, kind: PgvectorKind): Float32Array {
  if (kind !== "vector" || !LITTLE_ENDIAN || bytes.byteOffset % 4 !== 0) {
    return decodePgvector(bytes, kind);
  }
  const dimensions = sentDimensions(bytes);
  const expected = HEADER_BYTES + dimensions * 4;
  if (bytes.byteLength !== expected) {
    throw new VectorDecodeError(
      `a vector of ${dimensions} dimensions takes ${expected} bytes, got ${bytes.byteLength}`,
    );
  }
  const offset = bytes.byteOffset + HEADER_BYTES;
  Buffer.from(bytes.buffer, offset, dimensions * 4).swap32();
  return new Float32Array(bytes.buffer, offset, dimensions);
}

function decodeFloat32BigEndian(bytes: Uint8Array, dimensions: number): Float32Array {
  const out = new Float32Array(dimensions);
  const outBytes = new Uint8Array(out.buffer);
  outBytes.set(bytes.subarray(HEADER_BYTES, HEADER_BYTES + dimensions * 4));
  // A native byte swap of the whole vector (big-endian on the wire, little-endian in memory).
  if (LITTLE_ENDIAN) {
    Buffer.from(out.buffer, 0, out.byteLength).swap32();
  }
  return out;
}

function decodeFloat16BigEndian(bytes: Uint8Array, dimensions: number): Float32Array {
  const table = halfTable();
  const out = new Float32Array(dimensions);
  for (let i = 0, offset = HEADER_BYTES; i < dimensions; i++, offset += 2) {
    out[i] = table[(bytes[offset] << 8) | bytes[offset + 1]];
  }
  return out;
}

let halfToFloat: Float32Array | undefined;

/** Every one of the 65,536 half-precision values as float32 (256 KiB, built once on first use). */
function halfTable(): Float32Array {
  if (halfToFloat === undefined) {
    halfToFloat = new Float32Array(65_536);
    for (let bits = 0; bits < 65_536; bits++) {
      halfToFloat[bits] = halfBitsToNumber(bits);
    }
  }
  return halfToFloat;
}

/** IEEE 754 binary16 bits to their value (subnormals, infinities and NaN included). */
export function halfBitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) {
    return sign * fraction * 2 ** -24;
  }
  if (exponent === 0x1f) {
    return fraction === 0 ? sign * Infinity : Number.NaN;
  }
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * pgvector's text form (`[1,0.5,...]`) of a float32 vector, for writing vectors back on rollback.
 * `String(x)` of a float32 widened to a double is the shortest decimal of that double, which pgvector's
 * `strtof` reads back to the same float32: the round trip is exact.
 */
export function formatPgvector(vector: Float32Array): string {
  let text = "[";
  for (let i = 0; i < vector.length; i++) {
    if (i > 0) text += ",";
    text += String(vector[i]);
  }
  return `${text}]`;
}
