/**
 * npm run bench:retrieve-large [-- --seconds 20 --concurrency 8 --warmup 40 --limit N]
 *
 * RetrieveContext on one large catalog: the Spider tuning set's databases and the distractor schemas
 * (../shared/eval, as `npm run eval:retrieval` builds its "large" setting: every database a schema of
 * ONE catalog) indexed through CreateEmbeddingsForCatalog, then every tuning question asked through the
 * running service with the default budgets. The service runs as its own process on the real Postgres
 * (a database of its own) and the embedded Qdrant as a third process, so each one's CPU is its own.
 *
 * Measures latency at concurrency 1 (each question once, after a warm-up) and throughput at
 * `--concurrency` (8 = MAX_CONCURRENT_EXPENSIVE_CALLS), and splits the service's time by step
 * (embed, qdrant, rank, postgres, assemble) from its `dq_retrieve_step_seconds` histogram, read from
 * /metrics before and after each phase. Writes bench/results/retrieve-large-<date>.json.
 */
import { cpus } from "node:os";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { sql } from "slonik";
import { runMigrations } from "../../src/stores/migrations.js";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";
import { EmbeddingService } from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { RetrievalService } from "../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { catalogIdOf, readCatalogs, readQuestions, schemaOf } from "../eval/dataset.js";
import { cpuSeconds, freePort, startNode } from "../ingest/processes.js";

const SHARED_EVAL = new URL("../../../shared/eval/", import.meta.url);
const { values: args } = parseArgs({
  options: {
    questions: { type: "string", default: fileURLToPath(new URL("tuning.jsonl", SHARED_EVAL)) },
    catalogs: { type: "string", default: fileURLToPath(new URL("tuning-catalogs.json", SHARED_EVAL)) },
    distractors: { type: "string", default: fileURLToPath(new URL("catalogs-distractors.json", SHARED_EVAL)) },
    seconds: { type: "string", default: "20" },
    concurrency: { type: "string", default: "8" },
    warmup: { type: "string", default: "40" },
    limit: { type: "string" },
    dimensions: { type: "string", default: "3072" },
    "admin-url": {
      type: "string",
      default: process.env.BENCH_DATABASE_URL ?? "postgres://dq:dq@127.0.0.1:5432/postgres",
    },
  },
});
const SECONDS = Number(args.seconds);
const CONCURRENCY = Number(args.concurrency);
const WARMUP = Number(args.warmup);
const DIMENSIONS = Number(args.dimensions);
const STEPS = ["embed", "qdrant", "rank", "postgres", "assemble"] as const;
const logger = pino({ level: "silent" });

async function main() {
  const questions = (await readQuestions(args.questions)).slice(
    0,
    args.limit === undefined ? undefined : Number(args.limit),
  );
  const databases = { ...(await readCatalogs(args.distractors)), ...(await readCatalogs(args.catalogs)) };
  const schemas = Object.entries(databases).map(([db, tables]) => schemaOf(db, tables, "none"));
  const catalogId = catalogIdOf("large");

  const work = mkdtempSync(join(tmpdir(), "bench-retrieve-large-"));
  const adminPool = await createPostgresPool({ url: args["admin-url"], maximumPoolSize: 1, logger });
  const database = `bench_retrieve_large_${Date.now()}`;
  await adminPool.query(sql.unsafe`CREATE DATABASE ${sql.identifier([database])}`);
  const databaseUrl = Object.assign(new URL(args["admin-url"]), { pathname: `/${database}` }).toString();
  await runMigrations({ databaseUrl, logger });
  const qdrantPort = await freePort();
  const qdrant = await startNode(
    "src/cli/embedded-qdrant.ts",
    ["--host", "127.0.0.1", "--port", String(qdrantPort), "--data-dir", join(work, "qdrant")],
    {},
    (entry) => String(entry.msg ?? "").includes("ready"),
  );
  const grpcPort = await freePort();
  const metricsPort = await freePort();
  const service = await startNode(
    "src/main.ts",
    [],
    {
      DATABASE_URL: databaseUrl,
      QDRANT_HOST: "127.0.0.1",
      QDRANT_GRPC_PORT: String(qdrantPort),
      GRPC_HOST: "127.0.0.1",
      GRPC_PORT: String(grpcPort),
      METRICS_HOST: "127.0.0.1",
      METRICS_PORT: String(metricsPort),
      EMBEDDING_DIMENSIONS: String(DIMENSIONS),
      // The default: one log line per call, as a deployment has.
      LOG_LEVEL: "info",
    },
    (entry) => String(entry.msg ?? "").includes("listening"),
  );
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` });
  const embeddings = createClient(EmbeddingService, transport);
  const retrieval = createClient(RetrievalService, transport);

  try {
    const indexStart = performance.now();
    const synced = await embeddings.createEmbeddingsForCatalog({
      catalogId,
      catalog: { schemas, documents: [] },
    });
    const indexSeconds = (performance.now() - indexStart) / 1000;
    const chunks = synced.addedCount + synced.updatedCount + synced.unchangedCount;
    console.log(`indexed ${schemas.length} schemas, ${chunks} chunks in ${indexSeconds.toFixed(1)} s`);

    let insufficient = 0;
    const ask = async (n: number) => {
      const response = await retrieval.retrieveContext({
        catalogId,
        question: questions[n % questions.length].question,
      });
      if (response.insufficientContext) insufficient++;
    };
    for (let i = 0; i < WARMUP; i++) await ask(i);
    insufficient = 0;

    const metrics = () => scrape(metricsPort);
    // Concurrency 1: every question once, in order.
    let before = await metrics();
    let cpuBefore = { service: cpuSeconds(service.pid), qdrant: cpuSeconds(qdrant.pid) };
    const latencies: number[] = [];
    for (let i = 0; i < questions.length; i++) {
      const start = performance.now();
      await ask(i);
      latencies.push(performance.now() - start);
    }
    let after = await metrics();
    const concurrency1 = {
      calls: latencies.length,
      p50Ms: round(percentile(latencies, 0.5)),
      p99Ms: round(percentile(latencies, 0.99)),
      meanMs: round(mean(latencies)),
      steps: stepSummary(before, after),
      cpuMsPerCall: cpuPerCall(cpuBefore, service.pid, qdrant.pid, latencies.length),
      insufficientContext: insufficient,
    };
    console.log("concurrency 1", JSON.stringify(concurrency1));

    // Throughput: CONCURRENCY callers for SECONDS.
    before = await metrics();
    cpuBefore = { service: cpuSeconds(service.pid), qdrant: cpuSeconds(qdrant.pid) };
    const loaded: number[] = [];
    const deadline = performance.now() + SECONDS * 1000;
    let counter = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < deadline) {
          const start = performance.now();
          await ask(counter++);
          loaded.push(performance.now() - start);
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    after = await metrics();
    const saturation = {
      concurrency: CONCURRENCY,
      calls: loaded.length,
      callsPerSecond: round(loaded.length / elapsed),
      p50Ms: round(percentile(loaded, 0.5)),
      p99Ms: round(percentile(loaded, 0.99)),
      steps: stepSummary(before, after),
      cpuMsPerCall: cpuPerCall(cpuBefore, service.pid, qdrant.pid, loaded.length),
    };
    console.log(`concurrency ${CONCURRENCY}`, JSON.stringify(saturation));

    const report = {
      benchmark: "retrieve-large",
      date: new Date().toISOString(),
      machine: { cores: cpus().length, node: process.version, loadAverage: (await import("node:os")).loadavg() },
      catalog: { schemas: schemas.length, chunks, indexSeconds: round(indexSeconds) },
      questions: questions.length,
      dimensions: DIMENSIONS,
      concurrency1,
      saturation,
      command: `npm run bench:retrieve-large -- --seconds ${SECONDS} --concurrency ${CONCURRENCY} --warmup ${WARMUP}${args.limit === undefined ? "" : ` --limit ${args.limit}`}`,
    };
    mkdirSync("bench/results", { recursive: true });
    const file = `bench/results/retrieve-large-${report.date.replace(/[:.]/g, "-")}.json`;
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`wrote ${file}`);
  } finally {
    await service.stop();
    await qdrant.stop();
    await adminPool
      .query(sql.unsafe`DROP DATABASE IF EXISTS ${sql.identifier([database])} WITH (FORCE)`)
      .catch(() => undefined);
    await adminPool.end();
    rmSync(work, { recursive: true, force: true });
  }
}

/** Sums and counts of the step histogram and of the RetrieveContext handling histogram. */
type Scrape = Map<string, number>;

async function scrape(port: number): Promise<Scrape> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const values: Scrape = new Map();
  for (const line of text.split("\n")) {
    const step = /^dq_retrieve_step_seconds_(sum|count)\{step="(\w+)"\} (\S+)$/.exec(line);
    if (step !== null) values.set(`${step[2]}_${step[1]}`, Number(step[3]));
    const handled = /^grpc_server_handling_seconds_(sum|count)\{[^}]*grpc_method="RetrieveContext"[^}]*\} (\S+)$/.exec(
      line,
    );
    if (handled !== null) values.set(`handler_${handled[1]}`, Number(handled[2]));
  }
  return values;
}

/** Mean milliseconds per call of each step, of the whole handler, and what the steps leave out. */
function stepSummary(before: Scrape, after: Scrape) {
  const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
  const calls = delta("handler_count");
  const perCall = (key: string) => round((delta(key) * 1000) / Math.max(1, calls));
  const steps = Object.fromEntries(STEPS.map((step) => [`${step}Ms`, perCall(`${step}_sum`)]));
  const handlerMs = perCall("handler_sum");
  const inSteps = STEPS.reduce((sum, step) => sum + perCall(`${step}_sum`), 0);
  return { calls, handlerMs, ...steps, otherMs: round(handlerMs - inSteps) };
}

function cpuPerCall(before: { service: number; qdrant: number }, servicePid: number, qdrantPid: number, calls: number) {
  return {
    service: round(((cpuSeconds(servicePid) - before.service) * 1000) / calls),
    qdrant: round(((cpuSeconds(qdrantPid) - before.qdrant) * 1000) / calls),
  };
}

function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

await main();
