// Benchmark of the embedded Qdrant server, in-process and as its own process, through the real
// QdrantClient (compression off, as the service uses it). Prints a table and writes JSON to
// bench/results/. Speed claims are ratios within one run: these machines are shared and noisy.
//
//   npx tsx bench/qdrant/run.ts [--dims 3072] [--sizes 10000,100000] [--modes in-process,process]
//                               [--upsert-points 2048] [--searches true]
//
// Upserts are measured twice: through the real client (vectors as number[], encoded by protobuf-es in
// this process: in-process mode shares the thread with the server) and through the service's own
// bytes-path client (src/stores/qdrant-wire: vectors as float32 bytes, points as the service writes
// them), which leaves the server's own cost.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { parseArgs } from "node:util";
import { Distance, QdrantClient } from "@qdrant/js-client-grpc";
import type { VectorPoint } from "../../src/stores/vector-store.js";
import { createQdrantWireUpsert, type QdrantWireUpsert } from "../../src/stores/qdrant-wire/upsert-points.js";
import { pino } from "pino";
import { createEmbeddedQdrant } from "../../src/embedded/qdrant/index.js";
import { measureBandwidthFloor } from "./bandwidth.js";
import { measureUpsertCost } from "./server-cost.js";

const { values } = parseArgs({
  options: {
    dims: { type: "string", default: "3072" },
    sizes: { type: "string", default: "10000,100000" },
    modes: { type: "string", default: "in-process,process" },
    queries: { type: "string", default: "60" },
    "upsert-points": { type: "string", default: "2048" },
    searches: { type: "string", default: "true" },
  },
});
const SEARCHES = values.searches !== "false";
const DIMS = Number(values.dims);
const SIZES = values.sizes.split(",").map(Number);
const MODES = values.modes.split(",") as ("in-process" | "process")[];
const QUERIES = Number(values.queries);
const UPSERT_POINTS = Number(values["upsert-points"]);

interface Target {
  client: QdrantClient;
  bytes: QdrantWireUpsert;
  peakRssMb(): number;
  stop(): Promise<void>;
}

async function startInProcess(dataDir: string): Promise<Target> {
  const server = createEmbeddedQdrant({ logger: pino({ level: "silent" }), dataDir });
  const { port } = await server.start();
  return {
    client: new QdrantClient({ url: `http://127.0.0.1:${port}`, compression: false, checkCompatibility: false }),
    bytes: bytesClient(port),
    peakRssMb: () => process.resourceUsage().maxRSS / 1024,
    stop: () => server.stop(),
  };
}

async function startProcess(dataDir: string): Promise<Target> {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", "src/cli/embedded-qdrant.ts", "--port", "0", "--data-dir", dataDir, "--log-level", "info"],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg?.includes("ready") && entry.port) resolve(entry.port);
    });
  });
  return {
    client: new QdrantClient({ url: `http://127.0.0.1:${port}`, compression: false, checkCompatibility: false }),
    bytes: bytesClient(port),
    peakRssMb: () => {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, "utf8");
      const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      return kb / 1024;
    },
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

function bytesClient(port: number): QdrantWireUpsert {
  return createQdrantWireUpsert({
    host: "127.0.0.1",
    port,
    timeoutMs: 300_000,
    vectorNames: { dense: "dense", sparse: "sparse" },
  });
}

/** Points as the service sends them: a named dense vector and the service's payload keys. */
function bytesPointsFor(from: number, count: number): VectorPoint[] {
  return Array.from({ length: count }, (_, k) => {
    const id = from + k;
    return {
      id: `00000000-0000-4000-8000-${id.toString(16).padStart(12, "0")}`,
      vector: Float32Array.from(randomVector(id)),
      payload: {
        catalog_id: "0b6f1c9e-3c1a-4f0e-9d5e-2a7c8b9d0e1f",
        kind: id % 10 === 0 ? "table" : "column",
        schema: "public",
        table: `t${id % 100}`,
        status: "pending",
        content_hash: id.toString(16).padStart(64, "0"),
        model: "precomputed",
      },
    };
  });
}

function randomVector(seed: number): number[] {
  let x = (seed * 2654435761) >>> 0;
  const out = new Array<number>(DIMS);
  for (let i = 0; i < DIMS; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = ((x >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

function pointsFor(from: number, count: number) {
  return Array.from({ length: count }, (_, k) => {
    const id = from + k;
    return {
      id: { pointIdOptions: { case: "num" as const, value: BigInt(id) } },
      vectors: { vectorsOptions: { case: "vector" as const, value: { data: randomVector(id) } } },
      payload: {
        tenth: { kind: { case: "stringValue" as const, value: id % 10 === 0 ? "yes" : "no" } },
        hundredth: { kind: { case: "stringValue" as const, value: id % 100 === 0 ? "yes" : "no" } },
      },
    };
  });
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function benchMode(mode: "in-process" | "process") {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-qdrant-"));
  const target = mode === "in-process" ? await startInProcess(dataDir) : await startProcess(dataDir);
  const { client } = target;
  const name = "bench";
  await client.api("collections").create({
    collectionName: name,
    vectorsConfig: { config: { case: "params", value: { size: BigInt(DIMS), distance: Distance.Cosine } } },
  });
  for (const fieldName of ["tenth", "hundredth"]) {
    await client.api("points").createFieldIndex({ collectionName: name, fieldName, fieldType: 0, wait: true });
  }
  let nextId = 1;
  const upserts: { client: "real" | "bytes"; batch: number; wait: boolean; pointsPerSecond: number }[] = [];
  for (const batch of [64, 256]) {
    for (const wait of [true, false]) {
      const started = performance.now();
      for (let done = 0; done < UPSERT_POINTS; done += batch) {
        await client.api("points").upsert({ collectionName: name, wait, points: pointsFor(nextId, batch) });
        nextId += batch;
      }
      upserts.push({
        client: "real",
        batch,
        wait,
        pointsPerSecond: UPSERT_POINTS / ((performance.now() - started) / 1000),
      });
      console.log(
        `[${mode}] upsert, real client, batch ${batch} wait ${wait}: ${upserts.at(-1)!.pointsPerSecond.toFixed(0)} points/s`,
      );
    }
  }
  // The bytes path, into a collection shaped as the service's (named dense vector), points prepared first.
  const bytesName = "bench_bytes";
  await client.api("collections").create({
    collectionName: bytesName,
    vectorsConfig: {
      config: { case: "paramsMap", value: { map: { dense: { size: BigInt(DIMS), distance: Distance.Cosine } } } },
    },
  });
  let bytesId = 1;
  for (const batch of [64, 256]) {
    for (const wait of [true, false]) {
      const requests: VectorPoint[][] = [];
      for (let done = 0; done < UPSERT_POINTS; done += batch, bytesId += batch) {
        requests.push(bytesPointsFor(bytesId, batch));
      }
      const started = performance.now();
      for (const points of requests) await target.bytes.upsert({ collectionName: bytesName, wait, points });
      upserts.push({
        client: "bytes",
        batch,
        wait,
        pointsPerSecond: UPSERT_POINTS / ((performance.now() - started) / 1000),
      });
      console.log(
        `[${mode}] upsert, bytes path, batch ${batch} wait ${wait}: ${upserts.at(-1)!.pointsPerSecond.toFixed(0)} points/s`,
      );
    }
  }
  const searches: { points: number; filter: string; p50Ms: number; p99Ms: number; queries: number }[] = [];
  for (const size of SEARCHES ? SIZES : []) {
    while (nextId <= size) {
      const batch = Math.min(256, size - nextId + 1);
      await client.api("points").upsert({ collectionName: name, wait: false, points: pointsFor(nextId, batch) });
      nextId += batch;
    }
    const count = (await client.api("points").count({ collectionName: name, exact: true })).result?.count;
    for (const [label, key] of [
      ["none", undefined],
      ["10%", "tenth"],
      ["1%", "hundredth"],
    ] as const) {
      const filter =
        key === undefined
          ? undefined
          : {
              must: [
                {
                  conditionOneOf: {
                    case: "field" as const,
                    value: { key, match: { matchValue: { case: "keyword" as const, value: "yes" } } },
                  },
                },
              ],
            };
      const queries = size >= 100000 && key === undefined ? Math.min(QUERIES, 30) : QUERIES;
      const times: number[] = [];
      for (let q = 0; q < queries; q++) {
        const vector = randomVector(1_000_000 + q);
        const t = performance.now();
        await client.api("points").search({ collectionName: name, vector, limit: 10n, filter });
        times.push(performance.now() - t);
      }
      searches.push({
        points: Number(count),
        filter: label,
        p50Ms: percentile(times, 50),
        p99Ms: percentile(times, 99),
        queries,
      });
      console.log(
        `[${mode}] search ${count} points filter ${label}: p50 ${percentile(times, 50).toFixed(2)} ms, p99 ${percentile(times, 99).toFixed(2)} ms`,
      );
    }
  }
  const peakRssMb = target.peakRssMb();
  await target.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
  return { mode, upserts, searches, peakRssMb };
}

const results = [];
for (const mode of MODES) results.push(await benchMode(mode));
const floor = measureBandwidthFloor(Math.max(...SIZES), DIMS, 5);
console.log(
  `floor over ${floor.points} x ${floor.dims} float32: JS dot ${floor.dotPassMs.toFixed(1)} ms (${floor.dotGBps.toFixed(2)} GB/s), ` +
    `JS sum ${floor.sumPassMs.toFixed(1)} ms (${floor.sumGBps.toFixed(2)} GB/s), wasm SIMD dot ${floor.simdPassMs.toFixed(1)} ms (${floor.simdGBps.toFixed(2)} GB/s)`,
);
const upsertCost = measureUpsertCost(DIMS);
console.log(
  `upsert cost per point (no network): client encode ${upsertCost.clientEncodeUsPerPoint.toFixed(1)} us; server decode ` +
    `${upsertCost.serverDecodeUsPerPoint.toFixed(1)} us, apply ${upsertCost.serverApplyUsPerPoint.toFixed(1)} us, ` +
    `log encode ${upsertCost.serverLogEncodeUsPerPoint.toFixed(1)} us`,
);
const out = {
  benchmark: "embedded-qdrant",
  at: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  dims: DIMS,
  upsertPointsPerConfig: UPSERT_POINTS,
  results,
  bandwidthFloor: floor,
  upsertCost,
  notes:
    "client: @qdrant/js-client-grpc 1.19, compression off; data dir on local tmp; exact search; p50/p99 over sequential queries",
};
const dir = path.join(process.cwd(), "bench", "results");
fs.mkdirSync(dir, { recursive: true });
const file = path.join(dir, `embedded-qdrant-${out.at.replace(/[:.]/g, "-")}.json`);
fs.writeFileSync(file, JSON.stringify(out, null, 2));
console.log(`wrote ${file}`);
