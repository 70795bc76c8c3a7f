/**
 * npm run bench:retrieve-large [-- --seconds 20 --concurrency 8 --warmup 40 --limit N --baseline DIR]
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
 *
 * With `--baseline DIR` (another checkout with its dependencies installed, e.g. `git worktree add
 * /tmp/dq-main main && (cd /tmp/dq-main && npm ci)`), that version runs alongside on its own Postgres
 * database and Qdrant process: at concurrency 1 the two are called in turn, question by question, and
 * saturated one after the other, so the ratios compare them under the same machine load.
 *
 * BENCH_SERVICE_NODE_ARGS and BENCH_QDRANT_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") reach
 * the service's and the Qdrant process's node.
 */
import { cpus, loadavg, tmpdir } from "node:os";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { sql, type DatabasePool } from "slonik";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";
import { EmbeddingService } from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { RetrievalService } from "../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { catalogIdOf, readCatalogs, readQuestions, schemaOf, type CatalogSchemaInit } from "../eval/dataset.js";
import { cpuSeconds, freePort, nodeArgsFromEnv, startNode, type Child } from "../ingest/processes.js";

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
    baseline: { type: "string" },
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
const CATALOG_ID = catalogIdOf("large");

/** One version of the service with its own Qdrant process and Postgres database, indexed. */
interface Stack {
  label: string;
  service: Child;
  qdrant: Child;
  retrieval: Client<typeof RetrievalService>;
  metricsPort: number;
  chunks: number;
  indexSeconds: number;
  stop(): Promise<void>;
}

async function startStack(
  label: string,
  root: string,
  adminPool: DatabasePool,
  work: string,
  schemas: CatalogSchemaInit[],
): Promise<Stack> {
  const database = `bench_retrieve_large_${label}_${Date.now()}`;
  await adminPool.query(sql.unsafe`CREATE DATABASE ${sql.identifier([database])}`);
  const databaseUrl = Object.assign(new URL(args["admin-url"]), { pathname: `/${database}` }).toString();
  const dropDatabase = () =>
    adminPool
      .query(sql.unsafe`DROP DATABASE IF EXISTS ${sql.identifier([database])} WITH (FORCE)`)
      .catch(() => undefined);
  const qdrantPort = await freePort();
  const qdrant = await startNode(
    join(root, "src/cli/embedded-qdrant.ts"),
    ["--host", "127.0.0.1", "--port", String(qdrantPort), "--data-dir", join(work, `qdrant-${label}`)],
    {},
    (entry) => String(entry.msg ?? "").includes("ready"),
    nodeArgsFromEnv("BENCH_QDRANT_NODE_ARGS"),
  );
  const grpcPort = await freePort();
  const metricsPort = await freePort();
  // The service migrates its database at start-up.
  const service = await startNode(
    join(root, "src/main.ts"),
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
    nodeArgsFromEnv("BENCH_SERVICE_NODE_ARGS"),
  );
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` });
  const indexStart = performance.now();
  const synced = await createClient(EmbeddingService, transport).createEmbeddingsForCatalog({
    catalogId: CATALOG_ID,
    catalog: { schemas, documents: [] },
  });
  const indexSeconds = (performance.now() - indexStart) / 1000;
  const chunks = synced.addedCount + synced.updatedCount + synced.unchangedCount;
  console.log(`${label}: indexed ${schemas.length} schemas, ${chunks} chunks in ${indexSeconds.toFixed(1)} s`);
  return {
    label,
    service,
    qdrant,
    retrieval: createClient(RetrievalService, transport),
    metricsPort,
    chunks,
    indexSeconds: round(indexSeconds),
    async stop() {
      await service.stop();
      await qdrant.stop();
      await dropDatabase();
    },
  };
}

async function main() {
  const questions = (await readQuestions(args.questions)).slice(
    0,
    args.limit === undefined ? undefined : Number(args.limit),
  );
  const databases = { ...(await readCatalogs(args.distractors)), ...(await readCatalogs(args.catalogs)) };
  const schemas = Object.entries(databases).map(([db, tables]) => schemaOf(db, tables, "none"));
  const work = mkdtempSync(join(tmpdir(), "bench-retrieve-large-"));
  const adminPool = await createPostgresPool({ url: args["admin-url"], maximumPoolSize: 1, logger });
  const stacks: Stack[] = [];
  try {
    stacks.push(await startStack("current", resolve("."), adminPool, work, schemas));
    if (args.baseline !== undefined) {
      stacks.push(await startStack("baseline", resolve(args.baseline), adminPool, work, schemas));
    }
    const insufficient = new Map(stacks.map((stack) => [stack.label, 0]));
    const ask = async (stack: Stack, n: number) => {
      const response = await stack.retrieval.retrieveContext({
        catalogId: CATALOG_ID,
        question: questions[n % questions.length].question,
      });
      if (response.insufficientContext) insufficient.set(stack.label, (insufficient.get(stack.label) ?? 0) + 1);
    };
    for (let i = 0; i < WARMUP; i++) for (const stack of stacks) await ask(stack, i);
    for (const stack of stacks) insufficient.set(stack.label, 0);

    // Concurrency 1: every question once, the versions in turn.
    const latencies = new Map(stacks.map((stack) => [stack.label, [] as number[]]));
    let before = await Promise.all(stacks.map(observe));
    for (let i = 0; i < questions.length; i++) {
      for (const stack of stacks) {
        const start = performance.now();
        await ask(stack, i);
        latencies.get(stack.label)!.push(performance.now() - start);
      }
    }
    let after = await Promise.all(stacks.map(observe));
    const concurrency1 = Object.fromEntries(
      stacks.map((stack, index) => {
        const values = latencies.get(stack.label)!;
        return [
          stack.label,
          {
            calls: values.length,
            p50Ms: round(percentile(values, 0.5)),
            p99Ms: round(percentile(values, 0.99)),
            meanMs: round(mean(values)),
            ...usage(before[index], after[index], values.length),
            insufficientContext: insufficient.get(stack.label),
          },
        ];
      }),
    );
    console.log("concurrency 1", JSON.stringify(concurrency1));

    // Throughput: CONCURRENCY callers for SECONDS, one version after the other.
    const saturation: Record<string, unknown> = {};
    for (const stack of stacks) {
      before = [await observe(stack)];
      const loaded: number[] = [];
      const deadline = performance.now() + SECONDS * 1000;
      let counter = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (performance.now() < deadline) {
            const start = performance.now();
            await ask(stack, counter++);
            loaded.push(performance.now() - start);
          }
        }),
      );
      const elapsed = (performance.now() - started) / 1000;
      after = [await observe(stack)];
      saturation[stack.label] = {
        concurrency: CONCURRENCY,
        calls: loaded.length,
        callsPerSecond: round(loaded.length / elapsed),
        p50Ms: round(percentile(loaded, 0.5)),
        p99Ms: round(percentile(loaded, 0.99)),
        ...usage(before[0], after[0], loaded.length),
      };
    }
    console.log(`concurrency ${CONCURRENCY}`, JSON.stringify(saturation));

    const ratios =
      stacks.length < 2
        ? undefined
        : (() => {
            const [current, baseline] = [concurrency1.current, concurrency1.baseline] as Array<{
              p50Ms: number;
              p99Ms: number;
            }>;
            const [loadedCurrent, loadedBaseline] = [saturation.current, saturation.baseline] as Array<{
              callsPerSecond: number;
            }>;
            return {
              p50CurrentOverBaseline: round(current.p50Ms / baseline.p50Ms),
              p99CurrentOverBaseline: round(current.p99Ms / baseline.p99Ms),
              throughputCurrentOverBaseline: round(loadedCurrent.callsPerSecond / loadedBaseline.callsPerSecond),
            };
          })();
    if (ratios !== undefined) console.log("ratios", JSON.stringify(ratios));

    const report = {
      benchmark: "retrieve-large",
      date: new Date().toISOString(),
      machine: { cores: cpus().length, node: process.version, loadAverage: loadavg().map(round) },
      catalog: { schemas: schemas.length, chunks: stacks[0].chunks, indexSeconds: stacks[0].indexSeconds },
      questions: questions.length,
      dimensions: DIMENSIONS,
      baseline: args.baseline,
      concurrency1,
      saturation,
      ratios,
      command: `npm run bench:retrieve-large -- --seconds ${SECONDS} --concurrency ${CONCURRENCY} --warmup ${WARMUP}${args.limit === undefined ? "" : ` --limit ${args.limit}`}${args.baseline === undefined ? "" : ` --baseline ${args.baseline}`}`,
    };
    mkdirSync("bench/results", { recursive: true });
    const file = `bench/results/retrieve-large-${report.date.replace(/[:.]/g, "-")}.json`;
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`wrote ${file}`);
  } finally {
    for (const stack of stacks) await stack.stop();
    await adminPool.end();
    rmSync(work, { recursive: true, force: true });
  }
}

/** What a phase is measured by: the service's histograms, and CPU seconds of the service and Qdrant. */
interface Observation {
  metrics: Map<string, number>;
  serviceCpu: number;
  qdrantCpu: number;
}

async function observe(stack: Stack): Promise<Observation> {
  const text = await (await fetch(`http://127.0.0.1:${stack.metricsPort}/metrics`)).text();
  const metrics = new Map<string, number>();
  for (const line of text.split("\n")) {
    const step = /^dq_retrieve_step_seconds_(sum|count)\{step="(\w+)"\} (\S+)$/.exec(line);
    if (step !== null) metrics.set(`${step[2]}_${step[1]}`, Number(step[3]));
    const handled = /^grpc_server_handling_seconds_(sum|count)\{[^}]*grpc_method="RetrieveContext"[^}]*\} (\S+)$/.exec(
      line,
    );
    if (handled !== null) metrics.set(`handler_${handled[1]}`, Number(handled[2]));
  }
  return { metrics, serviceCpu: cpuSeconds(stack.service.pid), qdrantCpu: cpuSeconds(stack.qdrant.pid) };
}

/**
 * Mean milliseconds per call of the handler and of each step (a version without the step histogram
 * has the handler only), what the steps leave out, and CPU milliseconds per call of each process.
 */
function usage(before: Observation, after: Observation, calls: number) {
  const delta = (key: string) => (after.metrics.get(key) ?? 0) - (before.metrics.get(key) ?? 0);
  const handled = delta("handler_count");
  const perCall = (key: string) => round((delta(key) * 1000) / Math.max(1, handled));
  const timed = delta("embed_count") > 0;
  const steps = timed ? Object.fromEntries(STEPS.map((step) => [`${step}Ms`, perCall(`${step}_sum`)])) : {};
  const inSteps = STEPS.reduce((sum, step) => sum + perCall(`${step}_sum`), 0);
  return {
    steps: {
      handlerMs: perCall("handler_sum"),
      ...steps,
      ...(timed ? { otherMs: round(perCall("handler_sum") - inSteps) } : {}),
    },
    cpuMsPerCall: {
      service: round(((after.serviceCpu - before.serviceCpu) * 1000) / calls),
      qdrant: round(((after.qdrantCpu - before.qdrantCpu) * 1000) / calls),
    },
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
