// Ingest benchmark: precomputed 3072-d vectors streamed through the service (StreamUpsertEmbeddings,
// 64 per message) vs. the same vectors written straight to Qdrant with @qdrant/js-client-grpc and the
// same rows straight to Postgres, one statement per batch. Both against one embedded Qdrant running as
// its own process and the real Postgres; the service runs as its own process too, so CPU per process
// is read from /proc. Prints a table and writes JSON to bench/results/. Speed claims are ratios within
// one run: these machines are shared and noisy.
//
//   npx tsx bench/ingest/run.ts [--count 20000] [--dims 3072] [--per-message 64] [--direct-batch 512]
//                               [--phases direct,service,direct-bytes,direct-pipelined,service]
//
// direct-pipelined: the bytes path with two batches in flight, as the service keeps two store batches
// in flight: the fairest "same work without the service" figure.
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { QdrantClient } from "@qdrant/js-client-grpc";
import { sql } from "slonik";
import { z } from "zod";
import { pino } from "pino";
import { contentHash } from "../../src/core/hash.js";
import { PRECOMPUTED_MODEL, pointOf } from "../../src/core/ingest.js";
import type { EmbeddingRowInput } from "../../src/core/types.js";
import { createPostgresMetadataStore } from "../../src/stores/postgres-metadata-store.js";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";
import {
  createQdrantVectorStore,
  DENSE_VECTOR,
  SPARSE_VECTOR,
  toPointStruct,
} from "../../src/stores/qdrant-vector-store.js";
import { createQdrantWireUpsert } from "../../src/stores/qdrant-wire/upsert-points.js";
import { float32Bytes } from "../../src/wire/float32.js";
import { createBytesEmbeddingClient } from "./bytes-client.js";
import { benchId, clusteredDataset, type Dataset } from "./dataset.js";
import {
  cpuSeconds,
  cpuSplitSeconds,
  nodeArgsFromEnv,
  peakRssMiB,
  selfCpuSeconds,
  threadCpuSeconds,
} from "./processes.js";
import { startStack } from "./stack.js";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "20000" },
    dims: { type: "string", default: "3072" },
    "per-message": { type: "string", default: "64" },
    "direct-batch": { type: "string", default: "512" },
    phases: { type: "string", default: "direct,service,direct-bytes,direct-pipelined,service" },
    "admin-url": { type: "string", default: process.env.DATABASE_URL ?? "postgres://dq:dq@127.0.0.1:5432/postgres" },
    out: { type: "string" },
  },
});
const COUNT = Number(values.count);
const DIMS = Number(values.dims);
const PER_MESSAGE = Number(values["per-message"]);
const DIRECT_BATCH = Number(values["direct-batch"]);
const PHASES = values.phases.split(",") as PhaseName[];
type PhaseName = "service" | "direct" | "direct-bytes" | "direct-pipelined";

const logger = pino({ level: "warn" });

interface PhaseResult {
  phase: PhaseName;
  run: number;
  vectors: number;
  seconds: number;
  vectorsPerSecond: number;
  cpuSeconds: { service: number; qdrant: number; benchClient: number };
  serviceCpuMicrosPerVector: number;
  /** The service's CPU in user space and in the kernel (sockets, page faults). */
  serviceUserSystemSeconds: { user: number; system: number };
  /** The service's CPU by thread: "node" is the JS thread, "V8 DefaultWorke" GC and compiler helpers. */
  serviceThreadCpuSeconds: Record<string, number>;
  qdrantCpuMicrosPerVector: number;
  clientCpuMicrosPerVector: number;
  stored: { postgresRows: number; qdrantPoints: number };
}

function rowOf(dataset: Dataset, prefix: number, catalogId: string, i: number): EmbeddingRowInput {
  const id = benchId(prefix, i);
  const table = `t${i % 500}`;
  const content = `Column: bench.${table}.c${i}\nType: text\nDescription: benchmark column ${i} of ${table}`;
  return {
    id,
    catalogId,
    kind: "column",
    content,
    metadata: {},
    schemaName: "bench",
    tableName: table,
    status: "pending",
    contentHash: contentHash(content),
    model: PRECOMPUTED_MODEL,
    qdrantPointId: id,
  };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  process.stdout.write(`generating ${COUNT} clustered ${DIMS}-d vectors...\n`);
  const dataset = clusteredDataset({ count: COUNT, dimensions: DIMS });

  // Scratch database on the real Postgres, migrated with the service's own migrations.
  const stack = await startStack({
    adminUrl: values["admin-url"],
    dimensions: DIMS,
    logger,
    // e.g. BENCH_SERVICE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the service
    serviceNodeArgs: nodeArgsFromEnv("BENCH_SERVICE_NODE_ARGS"),
  });
  const { qdrant, service, databaseUrl } = stack;
  const qdrantPort = qdrant.port;
  let pool: Awaited<ReturnType<typeof createPostgresPool>> | undefined;
  try {
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` });
    const embeddings = createBytesEmbeddingClient(transport);

    // Straight to the stores: the real client (compression off, version check off) and a Slonik pool.
    const client = new QdrantClient({
      host: "127.0.0.1",
      port: qdrantPort,
      compression: false,
      checkCompatibility: false,
      timeout: 300_000,
    });
    const directCollection = "bench_direct";
    await createQdrantVectorStore({
      client,
      collectionName: directCollection,
      dimensions: DIMS,
      model: PRECOMPUTED_MODEL,
      logger,
    }).start();
    const wireUpsert = createQdrantWireUpsert({
      host: "127.0.0.1",
      port: qdrantPort,
      timeoutMs: 300_000,
      vectorNames: { dense: DENSE_VECTOR, sparse: SPARSE_VECTOR },
    });
    pool = await createPostgresPool({ url: databaseUrl, maximumPoolSize: 4, logger });
    const metadata = createPostgresMetadataStore({ pool, logger });

    const runs = new Map<PhaseName, number>();
    const results: PhaseResult[] = [];
    for (const [index, phase] of PHASES.entries()) {
      const run = (runs.get(phase) ?? 0) + 1;
      runs.set(phase, run);
      const prefix = index + 1;
      const catalogId = `0000${prefix.toString(16).padStart(4, "0")}-0000-4000-8000-00000000cafe`;
      const rows = (from: number, to: number) =>
        Array.from({ length: to - from }, (_, k) => rowOf(dataset, prefix, catalogId, from + k));

      const threadsBefore = threadCpuSeconds(service.pid);
      const splitBefore = cpuSplitSeconds(service.pid);
      const before = {
        service: cpuSeconds(service.pid),
        qdrant: cpuSeconds(qdrant.pid),
        benchClient: selfCpuSeconds(),
      };
      const started = process.hrtime.bigint();
      if (phase === "service") {
        let acked = 0;
        const messages = async function* () {
          for (let from = 0, sequence = 1n; from < COUNT; from += PER_MESSAGE, sequence++) {
            const batch = rows(from, Math.min(COUNT, from + PER_MESSAGE));
            yield {
              sequence,
              embeddings: batch.map((row, k) => ({
                id: row.id,
                catalogId,
                kind: row.kind,
                content: row.content,
                schemaName: row.schemaName ?? "",
                tableName: row.tableName ?? "",
                vector: float32Bytes(dataset.vector(from + k)),
              })),
            };
          }
        };
        for await (const ack of embeddings.streamUpsertEmbeddings(messages())) {
          acked += ack.createdCount + ack.updatedCount + ack.unchangedCount;
        }
        if (acked !== COUNT) throw new Error(`service acknowledged ${acked} of ${COUNT} embeddings`);
      } else {
        const writeBatch = async (from: number) => {
          const batch = rows(from, Math.min(COUNT, from + DIRECT_BATCH));
          const points = batch.map((row, k) => pointOf(row, dataset.vector(from + k)));
          const qdrantWrite =
            phase === "direct"
              ? client.api("points").upsert({
                  collectionName: directCollection,
                  wait: true,
                  points: points.map((p) => toPointStruct(p)),
                })
              : wireUpsert.upsert({ collectionName: directCollection, wait: true, points });
          await Promise.all([metadata.upsertRows(batch), qdrantWrite]);
        };
        // One batch at a time, or (direct-pipelined) two in flight, each taking the next batch.
        let next = 0;
        const lane = async () => {
          for (let from = next; from < COUNT; from = next) {
            next += DIRECT_BATCH;
            await writeBatch(from);
          }
        };
        await Promise.all(Array.from({ length: phase === "direct-pipelined" ? 2 : 1 }, lane));
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const threadsAfter = threadCpuSeconds(service.pid);
      const splitAfter = cpuSplitSeconds(service.pid);
      const after = { service: cpuSeconds(service.pid), qdrant: cpuSeconds(qdrant.pid), benchClient: selfCpuSeconds() };
      const cpu = {
        service: round(after.service - before.service, 2),
        qdrant: round(after.qdrant - before.qdrant, 2),
        benchClient: round(after.benchClient - before.benchClient, 2),
      };
      const collectionName = phase === "service" ? "bench_service" : directCollection;
      const counted = await client.api("points").count({
        collectionName,
        exact: true,
        filter: {
          must: [
            {
              conditionOneOf: {
                case: "field",
                value: { key: "catalog_id", match: { matchValue: { case: "keyword", value: catalogId } } },
              },
            },
          ],
        },
      });
      const pgRows = await pool.query(
        sql.type(
          z.object({ n: z.number() }),
        )`SELECT count(*)::int AS n FROM dq_embeddings WHERE catalog_id = ${catalogId}`,
      );
      const result: PhaseResult = {
        phase,
        run,
        vectors: COUNT,
        seconds: round(seconds, 3),
        vectorsPerSecond: Math.round(COUNT / seconds),
        cpuSeconds: cpu,
        serviceCpuMicrosPerVector: round((cpu.service / COUNT) * 1e6, 1),
        serviceUserSystemSeconds: {
          user: round(splitAfter.user - splitBefore.user, 2),
          system: round(splitAfter.system - splitBefore.system, 2),
        },
        serviceThreadCpuSeconds: Object.fromEntries(
          Object.entries(threadsAfter)
            .map(([name, seconds]) => [name, round(seconds - (threadsBefore[name] ?? 0), 2)] as const)
            .filter(([, seconds]) => seconds > 0),
        ),
        qdrantCpuMicrosPerVector: round((cpu.qdrant / COUNT) * 1e6, 1),
        clientCpuMicrosPerVector: round((cpu.benchClient / COUNT) * 1e6, 1),
        stored: { postgresRows: pgRows.rows[0].n, qdrantPoints: Number(counted.result?.count ?? 0) },
      };
      results.push(result);
      process.stdout.write(
        `${phase.padEnd(13)} run ${run}: ${String(result.vectorsPerSecond).padStart(6)} vectors/s in ${result.seconds}s; CPU s: service ${cpu.service}, qdrant ${cpu.qdrant}, client ${cpu.benchClient}; service ${result.serviceCpuMicrosPerVector} us/vector ${JSON.stringify(result.serviceUserSystemSeconds)} ${JSON.stringify(result.serviceThreadCpuSeconds)}; stored ${result.stored.postgresRows} rows, ${result.stored.qdrantPoints} points\n`,
      );
    }

    const best = (phase: PhaseName) =>
      Math.max(0, ...results.filter((r) => r.phase === phase).map((r) => r.vectorsPerSecond));
    const serviceRuns = results.filter((r) => r.phase === "service");
    const summary = {
      serviceVectorsPerSecond: best("service"),
      directVectorsPerSecond: best("direct"),
      directBytesVectorsPerSecond: best("direct-bytes"),
      directPipelinedVectorsPerSecond: best("direct-pipelined"),
      serviceOverDirect: round(best("service") / best("direct"), 3),
      serviceOverDirectBytes: best("direct-bytes") > 0 ? round(best("service") / best("direct-bytes"), 3) : null,
      serviceOverDirectPipelined:
        best("direct-pipelined") > 0 ? round(best("service") / best("direct-pipelined"), 3) : null,
      serviceCpuMicrosPerVector: Math.min(...serviceRuns.map((r) => r.serviceCpuMicrosPerVector)),
      peakRssMiB: {
        service: round(peakRssMiB(service.pid), 1),
        qdrant: round(peakRssMiB(qdrant.pid), 1),
        benchClient: round(process.resourceUsage().maxRSS / 1024, 1),
      },
      targets: { serviceOverDirect: 0.95, serviceCpuMicrosPerVector: 20 },
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);

    const report = {
      benchmark: "ingest",
      startedAt: startedAt.toISOString(),
      command: `npx tsx bench/ingest/run.ts ${process.argv.slice(2).join(" ")}`.trim(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
      config: {
        vectors: COUNT,
        dimensions: DIMS,
        dataset: "50 seeded gaussian centroids + noise (spread 0.35), unit vectors",
        perMessage: PER_MESSAGE,
        serviceStoreBatch: "STREAM_BATCH_EMBEDDINGS default (512)",
        directBatch: DIRECT_BATCH,
        phases: PHASES,
        notes: [
          "service: one StreamUpsertEmbeddings stream from a client that sends vectors as packed bytes; the service is `node --import tsx src/main.ts`",
          "direct: @qdrant/js-client-grpc points.upsert (compression off, version check off) with number[] vectors, and createPostgresMetadataStore(...).upsertRows, one statement per batch, both stores written concurrently per batch",
          "direct-bytes: the same, but the Qdrant upsert goes through src/stores/qdrant-wire (vectors as bytes), the service's own outbound path",
          "direct-pipelined: direct-bytes with two batches in flight (the service keeps two store batches in flight)",
          "Qdrant: the embedded server as its own process (src/cli/embedded-qdrant.ts) with a data directory; Postgres: the real server on 127.0.0.1; Postgres CPU is not counted",
        ],
      },
      results,
      summary,
    };
    const out =
      values.out ?? path.join("bench", "results", `ingest-${startedAt.toISOString().replace(/[:.]/g, "-")}.json`);
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`wrote ${out}\n`);
  } finally {
    await pool?.end();
    await stack.stop();
  }
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

await main();
