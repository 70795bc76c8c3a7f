import { InvalidArgumentError } from "./errors.js";
import { LIMITS } from "./limits.js";
import { EMBEDDING_STATUSES, type EmbeddingStatus } from "./types.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Returns the UUID lower-cased (Postgres and Qdrant print them so), or throws naming the field. */
export function requireUuid(value: string, field: string): string {
  if (value === "") {
    throw new InvalidArgumentError(field, "is required (a UUID)");
  }
  if (!UUID.test(value)) {
    throw new InvalidArgumentError(
      field,
      `must be a UUID such as 0b6f1c9e-3c1a-4f0e-9d5e-2a7c8b9d0e1f, got "${truncate(value)}"`,
    );
  }
  return value.toLowerCase();
}

export function requireText(value: string, field: string, maxBytes: number): string {
  if (value.trim() === "") {
    throw new InvalidArgumentError(field, "is required and must not be blank");
  }
  return limitText(value, field, maxBytes);
}

export function limitText(value: string, field: string, maxBytes: number): string {
  const bytes = Buffer.byteLength(value, "utf8");
  if (bytes > maxBytes) {
    throw new InvalidArgumentError(field, `is ${bytes} bytes; the limit is ${maxBytes}`);
  }
  return value;
}

/** Optional names (schema, table): empty means absent. */
export function optionalName(value: string, field: string): string | null {
  return value === "" ? null : limitText(value, field, LIMITS.maxNameBytes);
}

/**
 * Checks a vector's length and that every value is finite and not all zero, in one pass over the
 * float32 bit patterns (an integer scan: about twice as fast here as summing squares in float64): a
 * value is NaN or infinite exactly when its exponent bits are all ones, and the vector is all zero
 * (+0 or -0) exactly when no bit but the signs is set.
 */
export function requireVector(vector: Float32Array, dimensions: number, field: string): Float32Array {
  if (vector.length !== dimensions) {
    throw new InvalidArgumentError(
      field,
      `has ${vector.length} values; this service stores ${dimensions}-dimensional vectors`,
    );
  }
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
  if (nonFinite) {
    const index = vector.findIndex((value) => !Number.isFinite(value));
    throw new InvalidArgumentError(`${field}[${index}]`, "must be a finite number (NaN and Infinity are not allowed)");
  }
  if (any === 0) {
    throw new InvalidArgumentError(field, "must not be all zeros (cosine similarity is undefined for it)");
  }
  return vector;
}

export function requireStatus(value: string, field: string): EmbeddingStatus {
  if (!EMBEDDING_STATUSES.includes(value as EmbeddingStatus)) {
    throw new InvalidArgumentError(field, `must be one of ${EMBEDDING_STATUSES.join(", ")}`);
  }
  return value as EmbeddingStatus;
}

export function requireUniqueIds(ids: readonly string[], field: string): void {
  const seen = new Set<string>();
  for (const [index, id] of ids.entries()) {
    if (seen.has(id)) {
      throw new InvalidArgumentError(
        `${field}[${index}].id`,
        `duplicates id ${id}; ids must be unique within a request`,
      );
    }
    seen.add(id);
  }
}

function truncate(value: string): string {
  return value.length > 64 ? `${value.slice(0, 61)}...` : value;
}
