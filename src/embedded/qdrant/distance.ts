import { Distance } from "@qdrant/js-client-grpc";

/**
 * Distances as lib/segment/src/spaces/simple.rs computes them. Every metric yields a "similarity" where
 * larger is better (Euclid and Manhattan are negated), and `postprocess` turns it into the score the API
 * returns (Euclid: sqrt of the squared distance, Manhattan: the absolute sum).
 */
export type RawScorer = (a: Float32Array, aOffset: number, b: Float32Array, dim: number) => number;

export function dot(a: Float32Array, aOffset: number, b: Float32Array, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  const end4 = dim - (dim % 4);
  for (; i < end4; i += 4) {
    s0 += a[aOffset + i] * b[i];
    s1 += a[aOffset + i + 1] * b[i + 1];
    s2 += a[aOffset + i + 2] * b[i + 2];
    s3 += a[aOffset + i + 3] * b[i + 3];
  }
  for (; i < dim; i++) s0 += a[aOffset + i] * b[i];
  return s0 + s1 + s2 + s3;
}

export function negSquaredEuclid(a: Float32Array, aOffset: number, b: Float32Array, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let i = 0;
  const end2 = dim - (dim % 2);
  for (; i < end2; i += 2) {
    const d0 = a[aOffset + i] - b[i];
    const d1 = a[aOffset + i + 1] - b[i + 1];
    s0 += d0 * d0;
    s1 += d1 * d1;
  }
  for (; i < dim; i++) {
    const d = a[aOffset + i] - b[i];
    s0 += d * d;
  }
  return -(s0 + s1);
}

export function negManhattan(a: Float32Array, aOffset: number, b: Float32Array, dim: number): number {
  let s = 0;
  for (let i = 0; i < dim; i++) s += Math.abs(a[aOffset + i] - b[i]);
  return -s;
}

/**
 * Below this dimension Qdrant scores with its scalar loops on every CPU (lib/segment/src/spaces/
 * simple.rs: SSE and NEON from 16, AVX+FMA from 32): one float32 accumulator, element by element.
 * The embedded server does the same there, so its scores (and the order of near-ties) are Qdrant's to
 * the bit. From 16 on Qdrant's SIMD summation order and FMA depend on the CPU; scores then agree only
 * within float32 rounding.
 */
export const QDRANT_SCALAR_BELOW_DIM = 16;

const f32 = Math.fround;

/** `dot_similarity`: sum of a*b in float32, in element order. */
export function dotF32(a: Float32Array, aOffset: number, b: Float32Array, dim: number): number {
  let s = 0;
  for (let i = 0; i < dim; i++) s = f32(s + f32(a[aOffset + i] * b[i]));
  return s;
}

/** `euclid_similarity`: minus the float32 sum of (a-b)^2, in element order. */
export function negSquaredEuclidF32(a: Float32Array, aOffset: number, b: Float32Array, dim: number): number {
  let s = 0;
  for (let i = 0; i < dim; i++) {
    const d = f32(a[aOffset + i] - b[i]);
    s = f32(s + f32(d * d));
  }
  return -s;
}

/** `manhattan_similarity`: minus the float32 sum of |a-b|, in element order. */
export function negManhattanF32(a: Float32Array, aOffset: number, b: Float32Array, dim: number): number {
  let s = 0;
  for (let i = 0; i < dim; i++) s = f32(s + Math.abs(f32(a[aOffset + i] - b[i])));
  return -s;
}

export interface Metric {
  /** The kernel computing `similarity` (vector-storage.ts runs it in wasm SIMD when it can). */
  readonly kernel: "dot" | "l2" | "l1";
  readonly similarity: RawScorer;
  /** Raw similarity -> the score the API reports. */
  postprocess(raw: number): number;
  /**
   * Whether an API score passes `score_threshold`: strictly better than it, compared in float32 like
   * `Distance::check_threshold` (lib/segment/src/types.rs) applied in
   * lib/collection/src/shards/local_shard/search.rs (a distance must be below, a similarity above).
   */
  passes(score: number, threshold: number): boolean;
  /** Applied to stored and query vectors alike (cosine: unit length). */
  preprocess(vector: Float32Array): Float32Array;
  /**
   * What `preprocess` divides every value by (1: it leaves the vector as is), so a stored vector is
   * divided while it is copied into storage instead of through a new array first.
   */
  divisor(vector: Float32Array): number;
}

const identity = (v: Float32Array): Float32Array => v;
const above = (score: number, threshold: number): boolean => Math.fround(score) > Math.fround(threshold);
const below = (score: number, threshold: number): boolean => Math.fround(score) < Math.fround(threshold);

/**
 * `cosine_preprocess` and `is_length_zero_or_normalized` (lib/segment/src/spaces/{simple,tools}.rs).
 * Returns a new array when it changes anything: the input may be a view into a request buffer.
 */
export function normalize(vector: Float32Array): Float32Array {
  const length = cosineDivisor(vector);
  if (length === 1) return vector;
  const out = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = vector[i] / length;
  return out;
}

/** The length `normalize` divides by, or 1 when it leaves the vector as is. */
export function cosineDivisor(vector: Float32Array): number {
  let length = 0;
  if (vector.length < QDRANT_SCALAR_BELOW_DIM) {
    // In float32 like the scalar `cosine_preprocess`: identical to Qdrant's below 16 dimensions.
    for (let i = 0; i < vector.length; i++) length = f32(length + f32(vector[i] * vector[i]));
  } else {
    // From 16 on Qdrant sums in SIMD lanes (CPU-dependent order); four float64 lanes here, rounded
    // once to float32: as close to the exact sum as Qdrant's, and 3x faster than rounding every step.
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
    for (let i = end; i < vector.length; i++) a += vector[i] * vector[i];
    length = f32(a + b + c + d);
  }
  if (length < 1.1920929e-7 || Math.abs(length - 1) <= 1e-6) return 1;
  return f32(Math.sqrt(length));
}

const one = (): number => 1;

export function metricFor(distance: Distance): Metric {
  switch (distance) {
    case Distance.Cosine:
      return {
        kernel: "dot",
        similarity: dot,
        postprocess: (s) => s,
        passes: above,
        preprocess: normalize,
        divisor: cosineDivisor,
      };
    case Distance.Dot:
      return {
        kernel: "dot",
        similarity: dot,
        postprocess: (s) => s,
        passes: above,
        preprocess: identity,
        divisor: one,
      };
    case Distance.Euclid:
      return {
        kernel: "l2",
        similarity: negSquaredEuclid,
        postprocess: (s) => Math.sqrt(Math.abs(s)),
        passes: below,
        preprocess: identity,
        divisor: one,
      };
    case Distance.Manhattan:
      return {
        kernel: "l1",
        similarity: negManhattan,
        postprocess: (s) => Math.abs(s),
        passes: below,
        preprocess: identity,
        divisor: one,
      };
    default:
      throw new Error(`unknown distance ${distance}`);
  }
}
