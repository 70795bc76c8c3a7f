/**
 * Precomputed vectors for the ingest benchmark: seeded and clustered like real embeddings (unit
 * vectors around a few dozen topic centroids), not uniform noise.
 */
export interface Dataset {
  count: number;
  dimensions: number;
  /** `count` x `dimensions` float32, row-major; `vector(i)` views row i. */
  data: Float32Array;
  vector(i: number): Float32Array;
}

export interface DatasetOptions {
  count: number;
  dimensions: number;
  clusters?: number;
  /** Noise around a centroid, relative to the centroid's norm. */
  spread?: number;
  seed?: number;
}

export function clusteredDataset(options: DatasetOptions): Dataset {
  const { count, dimensions } = options;
  const clusters = options.clusters ?? 50;
  const spread = options.spread ?? 0.35;
  const gaussian = gaussianSource(options.seed ?? 20261125);
  const centroids = new Float32Array(clusters * dimensions);
  for (let c = 0; c < clusters; c++) {
    fillUnit(centroids.subarray(c * dimensions, (c + 1) * dimensions), () => gaussian());
  }
  const data = new Float32Array(count * dimensions);
  const noise = spread / Math.sqrt(dimensions);
  for (let i = 0; i < count; i++) {
    const c = Math.floor(Math.abs(gaussian() * 1e6)) % clusters;
    const centroid = centroids.subarray(c * dimensions, (c + 1) * dimensions);
    fillUnit(data.subarray(i * dimensions, (i + 1) * dimensions), (d) => centroid[d] + gaussian() * noise);
  }
  return { count, dimensions, data, vector: (i) => data.subarray(i * dimensions, (i + 1) * dimensions) };
}

function fillUnit(out: Float32Array, value: (d: number) => number): void {
  let sum = 0;
  for (let d = 0; d < out.length; d++) {
    out[d] = value(d);
    sum += out[d] * out[d];
  }
  const scale = 1 / Math.sqrt(sum);
  for (let d = 0; d < out.length; d++) {
    out[d] *= scale;
  }
}

/** Standard normal numbers from mulberry32 through Box-Muller. */
function gaussianSource(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const theta = 2 * Math.PI * uniform();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}

/** Deterministic UUIDs (version 4 layout) for row i of a run: `prefix` keeps runs apart. */
export function benchId(prefix: number, i: number): string {
  const hex = (prefix * 0x100000000 + i).toString(16).padStart(12, "0");
  return `0000${prefix.toString(16).padStart(4, "0")}-0000-4000-8000-${hex.slice(-12)}`;
}
