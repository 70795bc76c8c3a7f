/**
 * npm run bench:hostile [-- --seconds 12 --concurrency 4 --probe-ms 20 --only BatchUpsert]   (about 2 minutes)
 *
 * `--only` runs the phases whose name contains it; BENCH_SERVICE_NODE_ARGS (e.g. "--cpu-prof
 * --cpu-prof-dir=/tmp/prof") is passed to the service's node.
 *
 * Starts the service as its own process (port 0 equivalent: a free loopback port; a fresh database on
 * the real Postgres, the embedded Qdrant in-process) and, phase by phase, sends it the worst inputs the
 * contract accepts while a separate HTTP/2 connection calls grpc.health.v1 Check every `probe-ms`.
 * Each phase runs `seconds` at most. It prints and writes (bench/results/hostile-*.json) the worst and
 * p99 health-check latency per phase and overall: a request that holds the service's event loop shows
 * up there as a stall.
 *
 * Worst inputs: long runs without spaces (random letters, which defeat the tokenizer's piece cache, and
 * 65,536 x "a") in every text field at its byte limit, maximal metadata (64 KiB of JSON, deep keys),
 * maximal batches within the message limit, catalogs with every description at its limit, and
 * questions at their limit against rows that are such runs.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import readline from "node:readline";
import { parseArgs } from "node:util";
import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { sql } from "slonik";
import { EmbeddingService } from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { RetrievalService } from "../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { runMigrations } from "../../src/stores/migrations.js";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";
import { cpuSeconds, freePort, nodeArgsFromEnv, peakRssMiB, startNode } from "../ingest/processes.js";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "12" },
    concurrency: { type: "string", default: "4" },
    "probe-ms": { type: "string", default: "20" },
    only: { type: "string", default: "" },
    "admin-url": {
      type: "string",
      default: process.env.BENCH_DATABASE_URL ?? "postgres://dq:dq@127.0.0.1:5432/postgres",
    },
  },
});
const SECONDS = Number(args.seconds);
const CONCURRENCY = Number(args.concurrency);
const PROBE_MS = Number(args["probe-ms"]);
const logger = pino({ level: "silent" });

const LETTERS = "abcdefghijklmnopqrstuvwxyz";
function run(length: number, seed: number): string {
  // Random letters without a space: one pre-tokenizer piece, no two alike (no tokenizer cache hits).
  let state = seed >>> 0 || 1;
  let text = "";
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    text += LETTERS[(state >>> 24) % 26];
  }
  return text;
}

/** About 64 KiB of JSON: long keys and values without spaces, nested, arrays, numbers. */
function maximalMetadata(seed: number): JsonObject {
  const metadata: JsonObject = {};
  let nested: JsonObject = metadata;
  for (let depth = 0; depth < 16; depth++) {
    const inner: JsonObject = {};
    nested[`level${depth}`] = inner;
    nested = inner;
  }
  for (let i = 0; i < 48; i++) metadata[run(200, seed + i)] = run(1000, seed * 31 + i);
  metadata.numbers = Array.from({ length: 500 }, (_, i) => i * 1.5);
  return metadata;
}

interface Phase {
  name: string;
  /** One request; resolves when answered (errors are counted, not thrown). */
  request(index: number): Promise<unknown>;
  /** Requests in total (the phase also ends after SECONDS). */
  requests: number;
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), "bench-hostile-"));
  const adminPool = await createPostgresPool({ url: args["admin-url"], maximumPoolSize: 1, logger });
  const database = `bench_hostile_${Date.now()}`;
  await adminPool.query(sql.unsafe`CREATE DATABASE ${sql.identifier([database])}`);
  const databaseUrl = Object.assign(new URL(args["admin-url"]), { pathname: `/${database}` }).toString();
  await runMigrations({ databaseUrl, logger });
  const grpcPort = await freePort();
  const service = await startNode(
    "src/main.ts",
    [],
    {
      DATABASE_URL: databaseUrl,
      DATA_DIR: join(work, "data"),
      GRPC_HOST: "127.0.0.1",
      GRPC_PORT: String(grpcPort),
      METRICS_PORT: "0",
      LOG_LEVEL: "info",
    },
    (entry) => String(entry.msg ?? "").includes("listening"),
    nodeArgsFromEnv("BENCH_SERVICE_NODE_ARGS"),
  );
  const baseUrl = `http://127.0.0.1:${grpcPort}`;
  const load = createGrpcTransport({ baseUrl });
  const embeddings = createClient(EmbeddingService, load);
  const retrieval = createClient(RetrievalService, load);
  // Health from its own process on its own HTTP/2 connection: what a balancer's probe sees.
  const probes: Array<{ at: number; ms: number }> = [];
  const prober = await startNode(
    "bench/hostile/probe.ts",
    [baseUrl, String(PROBE_MS)],
    {},
    (entry) => entry.msg === "probing",
  );
  readline.createInterface({ input: prober.process.stdout! }).on("line", (line) => {
    const probe = JSON.parse(line) as { at?: number; ms?: number };
    if (probe.at !== undefined && probe.ms !== undefined) probes.push({ at: probe.at, ms: probe.ms });
  });
  const catalogId = randomUUID();

  const phases: Phase[] = [
    {
      name: "UpsertEmbedding: 65,536 random letters in content, every text field at its limit, 64 KiB metadata",
      requests: 8,
      request: (i) =>
        embeddings.upsertEmbedding({
          embedding: {
            id: randomUUID(),
            catalogId,
            kind: run(64, i),
            content: run(65_536, 1000 + i),
            schemaName: run(256, 2000 + i),
            tableName: run(256, 3000 + i),
            metadata: maximalMetadata(i),
          },
        }),
    },
    {
      name: "UpsertEmbedding: 65,536 x 'a' (the input that froze main for 13 minutes)",
      requests: 8,
      request: () =>
        embeddings.upsertEmbedding({
          embedding: { id: randomUUID(), catalogId, kind: "document", content: "a".repeat(65_536) },
        }),
    },
    {
      name: "BatchUpsertEmbeddings: 1,000 embeddings of 4,096 random letters (4 MiB of text)",
      requests: 1,
      request: (i) =>
        embeddings.batchUpsertEmbeddings({
          embeddings: Array.from({ length: 1000 }, (_, j) => ({
            id: randomUUID(),
            catalogId,
            kind: "document",
            content: run(4096, i * 100_000 + j),
          })),
        }),
    },
    {
      name: "BatchUpsertEmbeddings: 64 embeddings of 65,536 random letters (4 MiB of text)",
      requests: 1,
      request: (i) =>
        embeddings.batchUpsertEmbeddings({
          embeddings: Array.from({ length: 64 }, (_, j) => ({
            id: randomUUID(),
            catalogId,
            kind: "document",
            content: run(65_536, 7_000_000 + i * 1000 + j),
          })),
        }),
    },
    {
      name: "CreateEmbeddingsForCatalog dry_run: 4 tables x 50 columns, every description 8,192 letters, 4 documents of 65,536",
      requests: 1,
      request: (i) =>
        embeddings.createEmbeddingsForCatalog({ catalogId: randomUUID(), catalog: hostileCatalog(i), dryRun: true }),
    },
    {
      name: "CreateEmbeddingsForCatalog: the same catalog, written",
      requests: 1,
      request: (i) =>
        embeddings.createEmbeddingsForCatalog({
          catalogId: randomUUID(),
          catalog: hostileCatalog(100 + i),
          dryRun: false,
        }),
    },
    {
      name: "RetrieveContext: 8,192-letter questions over rows of 65,536-letter runs, max_tokens 100,000",
      requests: 8,
      request: (i) =>
        retrieval.retrieveContext({
          catalogId,
          question: run(8192, 9_000_000 + i),
          maxChunks: 200,
          maxTokens: 100_000,
        }),
    },
    {
      name: "SearchEmbeddings: 65,536-letter query texts",
      requests: 8,
      request: (i) =>
        retrieval.searchEmbeddings({
          catalogId,
          query: { case: "text", value: run(65_536, 11_000_000 + i) },
          limit: 100,
        }),
    },
  ];

  const cpuBefore = cpuSeconds(service.pid);
  const report: Record<string, unknown>[] = [];
  let worstOverall = 0;
  try {
    for (const phase of phases.filter((p) => p.name.includes(args.only))) {
      const result = await runPhase(phase, probes);
      worstOverall = Math.max(worstOverall, result.worstHealthMs);
      report.push(result);
      console.log(
        `${result.worstHealthMs.toFixed(1).padStart(7)} ms worst, ${result.p99HealthMs.toFixed(1).padStart(6)} ms p99 health (${result.probes} probes) | ${result.ok} ok, ${JSON.stringify(result.errors)} | ${phase.name}`,
      );
    }
  } finally {
    const out = {
      benchmark: "hostile",
      date: new Date().toISOString(),
      note: "2-core machine shared with 4 other engineers working in parallel: absolute figures are noisy",
      probeIntervalMs: PROBE_MS,
      phaseSeconds: SECONDS,
      concurrency: CONCURRENCY,
      worstHealthMs: worstOverall,
      goalMs: 100,
      serviceCpuSeconds: cpuSeconds(service.pid) - cpuBefore,
      servicePeakRssMiB: peakRssMiB(service.pid),
      phases: report,
    };
    console.log(`worst health-check latency over all phases: ${worstOverall.toFixed(1)} ms (goal < 100 ms)`);
    mkdirSync("bench/results", { recursive: true });
    const file = `bench/results/hostile-${out.date.replace(/[:.]/g, "-")}.json`;
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`wrote ${file}`);
    await prober.stop();
    await service.stop();
    await adminPool.query(sql.unsafe`DROP DATABASE IF EXISTS ${sql.identifier([database])} WITH (FORCE)`);
    await adminPool.end();
    rmSync(work, { recursive: true, force: true });
  }
}

function hostileCatalog(seed: number) {
  return {
    schemas: [
      {
        name: run(256, seed),
        description: run(8192, seed + 1),
        tables: Array.from({ length: 4 }, (_, t) => ({
          name: `t${t}_${run(200, seed * 10 + t)}`,
          description: run(8192, seed * 100 + t),
          columns: Array.from({ length: 50 }, (_, c) => ({
            name: `c${c}_${run(200, seed * 1000 + t * 100 + c)}`,
            type: run(1024, c),
            description: run(8192, seed * 7919 + t * 131 + c),
          })),
        })),
      },
    ],
    documents: Array.from({ length: 4 }, (_, d) => ({
      key: `doc${d}-${run(250, seed + d)}`,
      kind: "glossary",
      content: run(65_536, seed * 17 + d),
      metadata: maximalMetadata(d),
    })),
  };
}

async function runPhase(phase: Phase, probes: ReadonlyArray<{ at: number; ms: number }>) {
  const from = Date.now();
  const deadline = performance.now() + SECONDS * 1000;
  let next = 0;
  let ok = 0;
  const errors: Record<string, number> = {};
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < phase.requests && performance.now() < deadline) {
        const index = next++;
        try {
          await phase.request(index);
          ok++;
        } catch (error) {
          const code = Code[ConnectError.from(error).code];
          errors[code] = (errors[code] ?? 0) + 1;
          if (errors[code] === 1 && code !== "ResourceExhausted")
            console.log(`  ${code}: ${ConnectError.from(error).rawMessage.slice(0, 200)}`);
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  // Wait for the probe in flight at the end: a stall still running shows up in it.
  const to = Date.now();
  while (!probes.some((probe) => probe.at - probe.ms >= to)) await new Promise((resolve) => setTimeout(resolve, 10));
  // Every probe that overlapped the phase.
  const latencies = probes
    .filter((probe) => probe.at >= from && probe.at - probe.ms <= to)
    .map((probe) => probe.ms)
    .sort((a, b) => a - b);
  return {
    name: phase.name,
    seconds,
    ok,
    errors,
    probes: latencies.length,
    worstHealthMs: latencies.at(-1) ?? 0,
    p99HealthMs: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
    medianHealthMs: latencies[Math.floor(latencies.length / 2)] ?? 0,
  };
}

await main();
