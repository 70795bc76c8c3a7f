// Load run with ghz (https://ghz.sh): several concurrent StreamUpsertEmbeddings streams against the
// service (own process, embedded Qdrant own process, real Postgres). Reports throughput and latency
// percentiles per stream call; writes JSON to bench/results/.
//
//   GOBIN=$HOME/go/bin go install github.com/bojand/ghz/cmd/ghz@v0.120.0
//   npx tsx bench/ingest/ghz.ts [--concurrency 4] [--calls 40] [--messages 2] [--per-message 64] [--binary]
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { float32Bytes } from "../../src/wire/float32.js";
import { bytesEmbeddingService } from "./bytes-client.js";
import { benchId, clusteredDataset } from "./dataset.js";
import { cpuSeconds, peakRssMiB } from "./processes.js";
import { startStack } from "./stack.js";

const { values } = parseArgs({
  options: {
    ghz: { type: "string", default: path.join(os.homedir(), "go", "bin", "ghz") },
    concurrency: { type: "string", default: "4" },
    calls: { type: "string", default: "40" },
    messages: { type: "string", default: "2" },
    "per-message": { type: "string", default: "64" },
    dims: { type: "string", default: "3072" },
    // Binary data (-B): no JSON parsing in ghz, but every call sends the same ids, so concurrent
    // streams wait for each other's row locks: a contended-update load, not a fresh-insert one.
    binary: { type: "boolean", default: false },
    "admin-url": { type: "string", default: process.env.DATABASE_URL ?? "postgres://dq:dq@127.0.0.1:5432/postgres" },
  },
});
const CONCURRENCY = Number(values.concurrency);
const CALLS = Number(values.calls);
const MESSAGES = Number(values.messages);
const PER_MESSAGE = Number(values["per-message"]);
const DIMS = Number(values.dims);

// One call streams MESSAGES messages of PER_MESSAGE embeddings. Ids come from ghz's {{newUUID}}, so
// concurrent streams never contend for the same rows; vectors are the benchmark's clustered ones.
const dataset = clusteredDataset({ count: MESSAGES * PER_MESSAGE, dimensions: DIMS });
const catalogId = "0000beef-0000-4000-8000-00000000cafe";
const messages = Array.from({ length: MESSAGES }, (_, m) => ({
  sequence: String(m + 1),
  embeddings: Array.from({ length: PER_MESSAGE }, (_, k) => {
    const i = m * PER_MESSAGE + k;
    return {
      id: "{{newUUID}}",
      catalogId,
      kind: "column",
      content: `Column: bench.t${i % 50}.c${i}`,
      schemaName: "bench",
      tableName: `t${i % 50}`,
      vector: Array.from(dataset.vector(i), (x) => Number(x.toPrecision(7))),
    };
  }),
}));

/** The messages as ghz's binary input: each length-prefixed (varint), vectors as packed float bytes. */
function binaryMessages(): Uint8Array {
  const request = bytesEmbeddingService().methods.find((m) => m.name === "StreamUpsertEmbeddings")?.input;
  if (request === undefined) throw new Error("StreamUpsertEmbeddings missing");
  const writer = new BinaryWriter();
  messages.forEach((message, m) => {
    const encoded = toBinary(
      request,
      create(request, {
        sequence: BigInt(message.sequence),
        embeddings: message.embeddings.map((e, k) => ({
          ...e,
          id: benchId(0xb1, m * PER_MESSAGE + k),
          vector: float32Bytes(dataset.vector(m * PER_MESSAGE + k)),
        })),
      }),
    );
    writer.bytes(encoded);
  });
  return writer.finish();
}

const stack = await startStack({ adminUrl: values["admin-url"], dimensions: DIMS, logger: pino({ level: "warn" }) });
const work = await mkdtemp(path.join(os.tmpdir(), "dq-bench-ghz-"));
try {
  const dataFile = path.join(work, values.binary ? "stream.bin" : "stream.json");
  await writeFile(dataFile, values.binary ? binaryMessages() : JSON.stringify(messages));
  const before = { service: cpuSeconds(stack.service.pid), qdrant: cpuSeconds(stack.qdrant.pid) };
  const args = [
    "--insecure",
    "--proto",
    "proto/dq/embeddings/v1/embedding_service.proto",
    "--import-paths",
    "proto",
    "--call",
    "dq.embeddings.v1.EmbeddingService.StreamUpsertEmbeddings",
    ...(values.binary ? ["--binary-file", dataFile] : ["--data-file", dataFile]),
    "--concurrency",
    String(CONCURRENCY),
    "--total",
    String(CALLS),
    "--timeout",
    "120s",
    "--format",
    "json",
    `127.0.0.1:${stack.service.port}`,
  ];
  const { stdout } = await promisify(execFile)(values.ghz, args, { maxBuffer: 64 * 1024 * 1024 });
  const after = { service: cpuSeconds(stack.service.pid), qdrant: cpuSeconds(stack.qdrant.pid) };
  const report = JSON.parse(stdout) as {
    count: number;
    total: number;
    average: number;
    fastest: number;
    slowest: number;
    rps: number;
    latencyDistribution: { percentage: number; latency: number }[] | null;
    statusCodeDistribution: Record<string, number>;
    errorDistribution?: Record<string, number>;
  };
  const ok = report.statusCodeDistribution.OK ?? 0;
  const seconds = report.total / 1e9;
  const vectors = ok * MESSAGES * PER_MESSAGE;
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;
  const percentile = (p: number) =>
    ms(report.latencyDistribution?.find((d) => d.percentage === p)?.latency ?? Number.NaN);
  const summary = {
    data: values.binary
      ? "binary, the same ids every call (contended updates)"
      : "JSON with {{newUUID}} ids (ghz renders and parses it per call)",
    concurrency: CONCURRENCY,
    calls: report.count,
    ok,
    statusCodes: report.statusCodeDistribution,
    errors: report.errorDistribution ?? {},
    vectorsPerCall: MESSAGES * PER_MESSAGE,
    seconds: Math.round(seconds * 1000) / 1000,
    callsPerSecond: Math.round(report.rps * 100) / 100,
    vectorsPerSecond: Math.round(vectors / seconds),
    latencyMs: {
      average: ms(report.average),
      fastest: ms(report.fastest),
      p50: percentile(50),
      p90: percentile(90),
      p99: percentile(99),
      slowest: ms(report.slowest),
    },
    cpuSeconds: {
      service: Math.round((after.service - before.service) * 100) / 100,
      qdrant: Math.round((after.qdrant - before.qdrant) * 100) / 100,
    },
    serviceCpuMicrosPerVector: vectors > 0 ? Math.round(((after.service - before.service) / vectors) * 1e7) / 10 : null,
    peakRssMiB: {
      service: Math.round(peakRssMiB(stack.service.pid)),
      qdrant: Math.round(peakRssMiB(stack.qdrant.pid)),
    },
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  const startedAt = new Date();
  const out = path.join("bench", "results", `ingest-ghz-${startedAt.toISOString().replace(/[:.]/g, "-")}.json`);
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(
    out,
    `${JSON.stringify({ benchmark: "ingest-ghz", startedAt: startedAt.toISOString(), command: `npx tsx bench/ingest/ghz.ts ${process.argv.slice(2).join(" ")}`.trim(), ghzArgs: args.slice(0, -1), summary }, null, 2)}\n`,
  );
  process.stdout.write(`wrote ${out}\n`);
} finally {
  await rm(work, { recursive: true, force: true });
  await stack.stop();
}
