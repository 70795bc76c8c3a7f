import { endianness } from "node:os";

/**
 * Float32 vectors as protobuf carries them: little-endian IEEE 754 bytes, whatever the host. On a
 * little-endian host (every one Node supports today) both directions are views, or one copy when the
 * bytes are not 4-byte aligned; elsewhere they are converted value by value.
 */
export const LITTLE_ENDIAN = endianness() === "LE";

/** The little-endian float32 bytes of `vector`: a view of its memory on little-endian hosts. */
export function float32Bytes(vector: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) {
    return new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength);
  }
  const out = new Uint8Array(vector.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < vector.length; i++) {
    view.setFloat32(i * 4, vector[i], true);
  }
  return out;
}

/**
 * The floats of little-endian float32 bytes (a whole number of floats): a view when they are 4-byte
 * aligned (it keeps their whole buffer alive), else a ~2 us copy per 3072 floats.
 */
export function float32FromBytes(bytes: Uint8Array): Float32Array {
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
  new Uint8Array(copy.buffer).set(bytes.subarray(0, count * 4));
  return copy;
}

/** What `scanFloat32` found: a NaN or infinite value, and/or only zeros (+0 and -0). */
export const NON_FINITE = 1;
export const ALL_ZERO = 2;

/**
 * One pass over the float32 bit patterns of `vector`, as integers (about twice as fast on these
 * machines as summing squares in float64): a value is NaN or infinite exactly when its exponent bits
 * are all ones, and the vector is all zeros exactly when no bit but the signs is set. Returns a mask
 * of NON_FINITE and ALL_ZERO (0: every value finite, one of them non-zero).
 */
export function scanFloat32(vector: Float32Array): number {
  const bits = new Int32Array(vector.buffer, vector.byteOffset, vector.length);
  const EXPONENT = 0x7f800000;
  let nonFinite = false;
  let any = 0;
  const end = bits.length - (bits.length % 4);
  for (let i = 0; i < end; i += 4) {
    const a = bits[i];
    const b = bits[i + 1];
    const c = bits[i + 2];
    const d = bits[i + 3];
    if (
      (a & EXPONENT) === EXPONENT ||
      (b & EXPONENT) === EXPONENT ||
      (c & EXPONENT) === EXPONENT ||
      (d & EXPONENT) === EXPONENT
    ) {
      nonFinite = true;
    }
    any |= (a | b | c | d) << 1;
  }
  for (let i = end; i < bits.length; i++) {
    if ((bits[i] & EXPONENT) === EXPONENT) nonFinite = true;
    any |= bits[i] << 1;
  }
  return (nonFinite ? NON_FINITE : 0) | (any === 0 ? ALL_ZERO : 0);
}
