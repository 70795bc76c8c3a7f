import { InvalidArgumentError } from "./errors.js";
import { LIMITS } from "./limits.js";
import { isUuid } from "./uuid.js";
import { ALL_ZERO, NON_FINITE, scanFloat32 } from "../wire/float32.js";

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

/** Checks a vector's length and that every value is finite and not all zero, in one pass (`scanFloat32`). */
export function requireVector(vector: Float32Array, dimensions: number, field: string): Float32Array {
  if (vector.length !== dimensions) {
    throw new InvalidArgumentError(
      field,
      `has ${vector.length} values; this service stores ${dimensions}-dimensional vectors`,
    );
  }
  const found = scanFloat32(vector);
  if ((found & NON_FINITE) !== 0) {
    const index = vector.findIndex((value) => !Number.isFinite(value));
    throw new InvalidArgumentError(`${field}[${index}]`, "must be a finite number (NaN and Infinity are not allowed)");
  }
  if ((found & ALL_ZERO) !== 0) {
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
