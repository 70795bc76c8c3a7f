/** Small float helpers for verification: Qdrant normalizes cosine vectors, so compare normalized. */

/** The L2 norm, accumulated in float64. */
export function norm(vector: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i] * vector[i];
  return Math.sqrt(sum);
}

/**
 * The largest absolute difference between the two vectors after each is scaled to unit length;
 * Infinity when their lengths differ or either is zero or not finite.
 */
export function normalizedMaxDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) {
    return Infinity;
  }
  const na = norm(a);
  const nb = norm(b);
  if (!(na > 0 && nb > 0 && Number.isFinite(na) && Number.isFinite(nb))) {
    return Infinity;
  }
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const difference = Math.abs(a[i] / na - b[i] / nb);
    if (difference > worst) worst = difference;
  }
  return worst;
}

/** |expected ∩ actual| / |expected| (1 when nothing was expected). */
export function recall(expected: readonly string[], actual: readonly string[]): number {
  if (expected.length === 0) {
    return 1;
  }
  const found = new Set(actual.map((id) => id.toLowerCase()));
  return expected.filter((id) => found.has(id.toLowerCase())).length / expected.length;
}
