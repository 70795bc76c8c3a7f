/**
 * npm run bench:search [-- --points 100000 --catalogs 100 --requests 400 --seconds 10 --concurrency 8]
 *
 * 100k points of 3072 dimensions in 100 catalogs, in the embedded Qdrant as a separate process and the
 * real Postgres; the service as its own process. In one run, each query is sent through the service
 * (SearchEmbeddings limit 10 in one catalog; RetrieveContext) and straight to that Qdrant plus the same
 * Postgres fetch (for RetrieveContext: its one hybrid QueryBatch and its context-rows query), at
 * concurrency 1 (latency) and at saturation (throughput). Writes bench/results/.
 *
 * BENCH_SERVICE_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") is passed to the service's node;
 * the report's `windows` give each saturation phase's span on the monotonic clock V8's profiles use,
 * so `npx tsx bench/search/profile.ts <profile> --window <report> <name>` reads one phase alone.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { QdrantClient } from "@qdrant/js-client-grpc";
import { pino } from "pino";
import { sql } from "slonik";
import { encodeSparse } from "../../src/embedders/sparse-encoder.js";
import { createLocalEmbedder } from "../../src/embedders/local-embedder.js";
import { createQdrantVectorStore } from "../../src/stores/qdrant-vector-store.js";
import { runMigrations } from "../../src/stores/migrations.js";
import { createPostgresMetadataStore } from "../../src/stores/postgres-metadata-store.js";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";
import { RetrievalService } from "../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { createBytesEmbeddingClient } from "../ingest/bytes-client.js";
import { clusteredDataset } from "../ingest/dataset.js";
import { cpuSeconds, freePort, nodeArgsFromEnv, peakRssMiB, selfCpuSeconds, startNode } from "../ingest/processes.js";

const { values: args } = parseArgs({
  options: {
    points: { type: "string", default: "100000" },
    catalogs: { type: "string", default: "100" },
    dimensions: { type: "string", default: "3072" },
    requests: { type: "string", default: "400" },
    seconds: { type: "string", default: "10" },
    concurrency: { type: "string", default: "8" },
    "admin-url": {
      type: "string",
      default: process.env.BENCH_DATABASE_URL ?? "postgres://dq:dq@127.0.0.1:5432/postgres",
    },
  },
});
const POINTS = Number(args.points);
const CATALOGS = Number(args.catalogs);
const DIMENSIONS = Number(args.dimensions);
const REQUESTS = Number(args.requests);
const SECONDS = Number(args.seconds);
const CONCURRENCY = Number(args.concurrency);
const logger = pino({ level: "silent" });

const QUESTIONS = [
  "How many singers are from each country?",
  "total capacity of stadiums by location",
  "orders shipped last year per customer",
  "average salary by department",
];

async function main() {
  const work = mkdtempSync(join(tmpdir(), "bench-search-"));
  const adminPool = await createPostgresPool({ url: args["admin-url"], maximumPoolSize: 1, logger });
  const database = `bench_search_${Date.now()}`;
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
  const service = await startNode(
    "src/main.ts",
    [],
    {
      DATABASE_URL: databaseUrl,
      QDRANT_HOST: "127.0.0.1",
      QDRANT_GRPC_PORT: String(qdrantPort),
      GRPC_HOST: "127.0.0.1",
      GRPC_PORT: String(grpcPort),
      METRICS_PORT: "0",
      EMBEDDING_DIMENSIONS: String(DIMENSIONS),
      LOG_LEVEL: "info",
      // Saturation, not admission control, is measured: every concurrent call is admitted.
      MAX_CONCURRENT_EXPENSIVE_CALLS: String(Math.max(8, CONCURRENCY)),
    },
    (entry) => String(entry.msg ?? "").includes("listening"),
    nodeArgsFromEnv("BENCH_SERVICE_NODE_ARGS"),
  );
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` });
  const retrieval = createClient(RetrievalService, transport);

  try {
    // Load: 100 catalogs, points spread over 50 "tables" each, through the service's stream.
    const dataset = clusteredDataset({ count: POINTS, dimensions: DIMENSIONS, seed: 7 });
    const catalogIds = Array.from({ length: CATALOGS }, () => randomUUID());
    const writer = createBytesEmbeddingClient(transport);
    const loadStart = performance.now();
    const perMessage = 64;
    async function* messages() {
      for (let start = 0, sequence = 0; start < POINTS; start += perMessage, sequence++) {
        yield {
          sequence: BigInt(sequence),
          embeddings: Array.from({ length: Math.min(perMessage, POINTS - start) }, (_, offset) => {
            const i = start + offset;
            const vector = dataset.vector(i);
            return {
              id: randomUUID(),
              catalogId: catalogIds[i % CATALOGS],
              kind: i % 10 === 0 ? "table" : "column",
              content: `column c${i} of table t${i % 50}`,
              schemaName: "public",
              tableName: `t${i % 50}`,
              vector: new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength),
            };
          }),
        };
      }
    }
    for await (const _ack of writer.streamUpsertEmbeddings(messages())) {
      // acknowledged
    }
    const loadSeconds = (performance.now() - loadStart) / 1000;
    console.log(`loaded ${POINTS} points in ${loadSeconds.toFixed(1)} s`);

    // The direct path: the same query straight to that Qdrant, the same Postgres fetch.
    const client = new QdrantClient({
      host: "127.0.0.1",
      port: qdrantPort,
      compression: false,
      checkCompatibility: false,
    });
    const pool = await createPostgresPool({ url: databaseUrl, maximumPoolSize: 10, logger });
    const metadata = createPostgresMetadataStore({ pool, logger });
    const embedder = createLocalEmbedder({ dimensions: DIMENSIONS });
    const vectors = createQdrantVectorStore({
      client,
      collectionName: "embeddings",
      dimensions: DIMENSIONS,
      model: embedder.model,
      logger,
    });
    const filterOf = (catalogId: string) => ({
      must: [
        {
          conditionOneOf: {
            case: "field" as const,
            value: { key: "catalog_id", match: { matchValue: { case: "keyword" as const, value: catalogId } } },
          },
        },
      ],
      mustNot: [
        {
          conditionOneOf: {
            case: "field" as const,
            value: { key: "status", match: { matchValue: { case: "keyword" as const, value: "rejected" } } },
          },
        },
      ],
    });
    const queryVector = (n: number) => Array.from(dataset.vector((n * 7919) % POINTS));

    const serviceSearch = async (n: number) => {
      await retrieval.searchEmbeddings({
        catalogId: catalogIds[n % CATALOGS],
        query: { case: "vector", value: { values: queryVector(n) } },
        limit: 10,
      });
    };
    const directSearch = async (n: number) => {
      const catalogId = catalogIds[n % CATALOGS];
      const response = await client.api("points").query({
        collectionName: "embeddings",
        using: "dense",
        query: {
          variant: { case: "nearest", value: { variant: { case: "dense", value: { data: queryVector(n) } } } },
        },
        filter: filterOf(catalogId),
        limit: 10n,
      });
      await metadata.getRows(
        response.result.map((hit) => (hit.id?.pointIdOptions.case === "uuid" ? hit.id.pointIdOptions.value : "")),
        { catalogId },
      );
    };
    const serviceContext = async (n: number) => {
      await retrieval.retrieveContext({
        catalogId: catalogIds[n % CATALOGS],
        question: QUESTIONS[n % QUESTIONS.length],
        minRelevance: -1,
      });
    };
    // RetrieveContext's own store work, sent straight: the same hybrid QueryBatch through the same store
    // code, then the context rows of the hits and their tables (these synthetic chunks carry no catalog
    // metadata, so the service sends no second Postgres query either).
    const directContext = async (n: number) => {
      const catalogId = catalogIds[n % CATALOGS];
      const question = QUESTIONS[n % QUESTIONS.length];
      const [vector] = await embedder.embed([{ text: question }]);
      const { hits } = await vectors.searchHybrid({
        filter: { catalogId },
        vector,
        sparse: encodeSparse(question),
        limit: 60,
        candidates: 120,
        denseThreshold: -1,
      });
      const tables = new Map(hits.map((hit) => [`${hit.payload.schema}.${hit.payload.table}`, hit.payload]));
      await metadata.getContextRows(catalogId, {
        ids: hits.map((hit) => hit.id),
        tables: [...tables.values()].slice(0, 10).map((payload) => ({
          schema: payload.schema ?? "",
          table: payload.table ?? "",
        })),
      });
    };

    const pairs = { search: [serviceSearch, directSearch], context: [serviceContext, directContext] } as const;
    const results: Record<string, unknown> = {};
    // Microseconds on the monotonic clock (CLOCK_MONOTONIC, as V8's profile timestamps).
    const windows: Record<string, { fromUs: number; toUs: number }> = {};
    const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
    for (const [name, [viaService, direct]] of Object.entries(pairs)) {
      // Warm both paths, then alternate them so drift on a shared machine hits both alike.
      for (let i = 0; i < 50; i++) {
        await viaService(i);
        await direct(i);
      }
      const serviceLatency: number[] = [];
      const directLatency: number[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        let start = performance.now();
        await viaService(i);
        serviceLatency.push(performance.now() - start);
        start = performance.now();
        await direct(i);
        directLatency.push(performance.now() - start);
      }
      // CPU milliseconds per call of each process at saturation (the bench itself is the caller).
      const cpu = () => ({ bench: selfCpuSeconds(), service: cpuSeconds(service.pid), qdrant: cpuSeconds(qdrant.pid) });
      const perCall = (before: ReturnType<typeof cpu>, calls: number) => {
        const after = cpu();
        return {
          bench: round(((after.bench - before.bench) * 1000) / calls),
          service: round(((after.service - before.service) * 1000) / calls),
          qdrant: round(((after.qdrant - before.qdrant) * 1000) / calls),
        };
      };
      let before = cpu();
      const fromUs = monotonicUs();
      const serviceThroughput = await saturate(viaService);
      windows[`${name}-service`] = { fromUs, toUs: monotonicUs() };
      const serviceCpu = perCall(before, serviceThroughput * SECONDS);
      before = cpu();
      const directThroughput = await saturate(direct);
      const directCpu = perCall(before, directThroughput * SECONDS);
      const summary = {
        concurrency1: {
          service: percentiles(serviceLatency),
          direct: percentiles(directLatency),
          addedP50Ms: round(percentile(serviceLatency, 0.5) - percentile(directLatency, 0.5)),
          addedP99Ms: round(percentile(serviceLatency, 0.99) - percentile(directLatency, 0.99)),
        },
        saturation: {
          concurrency: CONCURRENCY,
          serviceRps: round(serviceThroughput),
          directRps: round(directThroughput),
          ratio: round(serviceThroughput / directThroughput),
          cpuMsPerCall: { service: serviceCpu, direct: directCpu },
        },
      };
      results[name] = summary;
      console.log(name, JSON.stringify(summary));
    }

    const report = {
      benchmark: "search",
      date: new Date().toISOString(),
      machine: { cores: (await import("node:os")).cpus().length, node: process.version },
      points: POINTS,
      catalogs: CATALOGS,
      dimensions: DIMENSIONS,
      loadSeconds: round(loadSeconds),
      results,
      windows,
      processes: {
        serviceCpuSeconds: round(cpuSeconds(service.pid)),
        servicePeakRssMiB: round(peakRssMiB(service.pid)),
        qdrantCpuSeconds: round(cpuSeconds(qdrant.pid)),
        qdrantPeakRssMiB: round(peakRssMiB(qdrant.pid)),
      },
      command: `npm run bench:search -- --points ${POINTS} --catalogs ${CATALOGS} --requests ${REQUESTS} --seconds ${SECONDS} --concurrency ${CONCURRENCY}`,
    };
    mkdirSync("bench/results", { recursive: true });
    const file = `bench/results/search-${report.date.replace(/[:.]/g, "-")}.json`;
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`wrote ${file}`);
    await pool.end();
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

async function saturate(call: (n: number) => Promise<void>): Promise<number> {
  const deadline = performance.now() + SECONDS * 1000;
  let done = 0;
  let counter = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        await call(counter++);
        done++;
      }
    }),
  );
  return done / SECONDS;
}

function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function percentiles(values: number[]) {
  return { p50Ms: round(percentile(values, 0.5)), p99Ms: round(percentile(values, 0.99)) };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

await main();
