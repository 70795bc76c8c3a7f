import { DenseVectorStorage } from "../../src/embedded/qdrant/vector-storage.js";

/**
 * The floor for exact search measured in the same run: one dot-product pass with four accumulators
 * over `points` x `dims` float32 (the same loop the server's exact search runs), and a plain sum over
 * the same bytes. Figures are per pass; GB/s = bytes / time.
 */
export interface BandwidthFloor {
  points: number;
  dims: number;
  bytes: number;
  /** JS loop, 4 accumulators. */
  dotPassMs: number;
  dotGBps: number;
  /** Plain JS sum over the same bytes. */
  sumPassMs: number;
  sumGBps: number;
  /** The server's own kernel (DenseVectorStorage.scorer, wasm SIMD) over the same number of vectors. */
  simdPassMs: number;
  simdGBps: number;
}

export function measureBandwidthFloor(points: number, dims: number, repeats = 5): BandwidthFloor {
  const simdPassMs = measureSimdPass(points, dims, repeats);
  const data = new Float32Array(points * dims);
  for (let i = 0; i < data.length; i += 97) data[i] = (i % 13) / 13;
  const query = new Float32Array(dims).fill(0.5);
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  let sink = 0;
  const dotTimes: number[] = [];
  const sumTimes: number[] = [];
  for (let r = 0; r < repeats; r++) {
    let t = performance.now();
    for (let p = 0; p < points; p++) {
      const base = p * dims;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let i = 0; i < dims; i += 4) {
        s0 += data[base + i] * query[i];
        s1 += data[base + i + 1] * query[i + 1];
        s2 += data[base + i + 2] * query[i + 2];
        s3 += data[base + i + 3] * query[i + 3];
      }
      sink += s0 + s1 + s2 + s3;
    }
    dotTimes.push(performance.now() - t);
    t = performance.now();
    let s = 0;
    for (let i = 0; i < data.length; i++) s += data[i];
    sink += s;
    sumTimes.push(performance.now() - t);
  }
  if (sink === 42) console.log(""); // keep the loops alive
  const bytes = data.byteLength;
  const dotPassMs = median(dotTimes);
  const sumPassMs = median(sumTimes);
  return {
    points,
    dims,
    bytes,
    dotPassMs,
    dotGBps: bytes / dotPassMs / 1e6,
    sumPassMs,
    sumGBps: bytes / sumPassMs / 1e6,
    simdPassMs,
    simdGBps: bytes / simdPassMs / 1e6,
  };
}

function measureSimdPass(points: number, dims: number, repeats: number): number {
  const storage = new DenseVectorStorage(dims, { initialCapacity: points, wasmFromVectors: 1 });
  const v = new Float32Array(dims);
  for (let p = 0; p < points; p++) {
    v[p % dims] = p / points;
    storage.set(p, v);
  }
  const score = storage.scorer("dot", new Float32Array(dims).fill(0.5));
  const times: number[] = [];
  let sink = 0;
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    for (let p = 0; p < points; p++) sink += score(p);
    times.push(performance.now() - t);
  }
  if (sink === 42) console.log("");
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}
