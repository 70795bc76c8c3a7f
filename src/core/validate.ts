import { InvalidArgumentError } from "./errors.js";
import { LIMITS } from "./limits.js";
import { isUuid } from "./uuid.js";

/** Returns the UUID lower-cased (Postgres and Qdrant print them so), or throws naming the field. */
export function requireUuid(value: string, field: string): string {
  if (value === "") {
    throw new InvalidArgumentError(field, "is required (a UUID)");
  }
  if (!isUuid(value)) {
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
 * Float32Array view the request bytes already are: a sum of squares (in float64, so no float32 value can
 * overflow it) is finite and positive exactly when every value is finite and one is non-zero.
 */
export function requireVector(vector: Float32Array, dimensions: number, field: string): Float32Array {
  if (vector.length !== dimensions) {
    throw new InvalidArgumentError(
      field,
      `has ${vector.length} values; this service stores ${dimensions}-dimensional vectors`,
    );
  }
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  const end = vector.length - (vector.length % 4);
  for (let i = 0; i < end; i += 4) {
    a += vector[i] * vector[i];
    b += vector[i + 1] * vector[i + 1];
    c += vector[i + 2] * vector[i + 2];
    d += vector[i + 3] * vector[i + 3];
  }
  for (let i = end; i < vector.length; i++) {
    a += vector[i] * vector[i];
  }
  const sum = a + b + c + d;
  if (!Number.isFinite(sum)) {
    const index = vector.findIndex((value) => !Number.isFinite(value));
    throw new InvalidArgumentError(`${field}[${index}]`, "must be a finite number (NaN and Infinity are not allowed)");
  }
  if (sum === 0) {
    throw new InvalidArgumentError(field, "must not be all zeros (cosine similarity is undefined for it)");
  }
  return vector;
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
