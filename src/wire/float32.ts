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
