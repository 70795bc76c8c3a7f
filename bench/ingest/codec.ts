// CPU per 3072-d vector of the request decode and the Qdrant encode, before (protobuf-es number[])
// and after (vectors as bytes), single thread, median of several rounds. Writes JSON to bench/results/.
//
//   npx tsx bench/ingest/codec.ts [--dims 3072] [--per-message 64] [--rounds 7]
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { create, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import { UpsertPointsSchema } from "@qdrant/js-client-grpc";
import { contentHash } from "../../src/core/hash.js";
import { pointOf, PRECOMPUTED_MODEL } from "../../src/core/ingest.js";
import type { EmbeddingRowInput } from "../../src/core/types.js";
import { requireVector } from "../../src/core/validate.js";
import { embeddingInputFromProto } from "../../src/server/convert.js";
import { shadowServices } from "../../src/server/wire/shadow-services.js";
import { DENSE_VECTOR, SPARSE_VECTOR, toPointStruct } from "../../src/stores/qdrant-vector-store.js";
import { encodeUpsertRequest } from "../../src/stores/qdrant-wire/encode-points.js";
import { float32Bytes } from "../../src/wire/float32.js";
import {
  type StreamUpsertEmbeddingsRequest,
  StreamUpsertEmbeddingsRequestSchema,
  EmbeddingService,
} from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { bytesEmbeddingService } from "./bytes-client.js";
import { benchId, clusteredDataset } from "./dataset.js";

const { values } = parseArgs({
  options: {
    dims: { type: "string", default: "3072" },
    "per-message": { type: "string", default: "64" },
    rounds: { type: "string", default: "7" },
    iterations: { type: "string", default: "20" },
  },
});
const DIMS = Number(values.dims);
const PER_MESSAGE = Number(values["per-message"]);
const ROUNDS = Number(values.rounds);
const ITERATIONS = Number(values.iterations);

const dataset = clusteredDataset({ count: PER_MESSAGE, dimensions: DIMS });
const catalogId = "0000abcd-0000-4000-8000-00000000cafe";
const rows: EmbeddingRowInput[] = Array.from({ length: PER_MESSAGE }, (_, i) => {
  const content = `Column: bench.t${i}.c${i}`;
  const id = benchId(9, i);
  return {
    id,
    catalogId,
    kind: "column",
    content,
    metadata: {},
    schemaName: "bench",
    tableName: `t${i}`,
    status: "pending",
    contentHash: contentHash(content),
    model: PRECOMPUTED_MODEL,
    qdrantPointId: id,
  };
});

// One StreamUpsertEmbeddingsRequest of PER_MESSAGE vectors as a client sends it (packed floats).
const bytesRequest = bytesEmbeddingService().methods.find((m) => m.name === "StreamUpsertEmbeddings")
  ?.input as DescMessage;
const requestBytes = toBinary(
  bytesRequest,
  create(bytesRequest, {
    sequence: 1n,
    embeddings: rows.map((row, i) => ({
      id: row.id,
      catalogId,
      kind: row.kind,
      content: row.content,
      schemaName: "bench",
      tableName: row.tableName,
      vector: float32Bytes(dataset.vector(i)),
    })),
  }),
);
const shadowRequest = shadowServices()
  .get(EmbeddingService.typeName)
  ?.methods.find((m) => m.name === "StreamUpsertEmbeddings")?.input as DescMessage;
const points = rows.map((row, i) => pointOf(row, dataset.vector(i)));

let sink = 0;
let reuse: Uint8Array | undefined;
const cases: Record<string, () => void> = {
  "decode before: fromBinary(real) + Float32Array.from + validate": () => {
    // Each request arrives in its own buffer (connect copies it out of the HTTP/2 frames).
    const message = fromBinary(StreamUpsertEmbeddingsRequestSchema, requestBytes.slice());
    for (const input of message.embeddings) {
      sink += requireVector(Float32Array.from(input.vector), DIMS, "v").length;
    }
  },
  "decode after: fromBinary(shadow) + embeddingInputFromProto (view + validate)": () => {
    // A fresh copy each time: misaligned vectors are aligned in place, inside the request's buffer.
    const message = fromBinary(shadowRequest, requestBytes.slice()) as StreamUpsertEmbeddingsRequest;
    for (const [i, input] of message.embeddings.entries()) {
      sink += embeddingInputFromProto(input, `embeddings[${i}]`, DIMS).vector?.length ?? 0;
    }
  },
  "encode before: UpsertPoints with number[] (Array.from + create + toBinary)": () => {
    const message = create(UpsertPointsSchema, {
      collectionName: "c",
      wait: true,
      points: points.map((p) => toPointStruct(p)),
    });
    sink += toBinary(UpsertPointsSchema, message).length;
  },
  "encode after: the gRPC request body written from the points, vectors as bytes": () => {
    // Into the previous request's buffer, as the service's Qdrant client does once a call is done.
    const body = encodeUpsertRequest(
      { collectionName: "c", wait: true, points },
      { dense: DENSE_VECTOR, sparse: SPARSE_VECTOR },
      reuse,
      1.25,
    );
    reuse = new Uint8Array(body.buffer);
    sink += body.length;
  },
};

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

const results: Record<string, { microsPerVector: number; rounds: number[] }> = {};
for (const [name, run] of Object.entries(cases)) {
  for (let i = 0; i < 5; i++) run(); // warm up the JIT
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = cpuMicros();
    for (let i = 0; i < ITERATIONS; i++) run();
    rounds.push((cpuMicros() - start) / (ITERATIONS * PER_MESSAGE));
  }
  const sorted = [...rounds].sort((a, b) => a - b);
  results[name] = {
    microsPerVector: Math.round(sorted[sorted.length >> 1] * 100) / 100,
    rounds: rounds.map((x) => Math.round(x * 100) / 100),
  };
  process.stdout.write(`${results[name].microsPerVector.toFixed(2).padStart(8)} us CPU/vector  ${name}\n`);
}
const micros = (prefix: string) =>
  Object.entries(results).find(([name]) => name.startsWith(prefix))?.[1].microsPerVector ?? Number.NaN;
const summary = {
  decodeSpeedup: Math.round((micros("decode before") / micros("decode after")) * 10) / 10,
  encodeSpeedup: Math.round((micros("encode before") / micros("encode after")) * 10) / 10,
  beforeMicrosPerVector: Math.round((micros("decode before") + micros("encode before")) * 10) / 10,
  afterMicrosPerVector: Math.round((micros("decode after") + micros("encode after")) * 10) / 10,
};
process.stdout.write(`${JSON.stringify(summary)} (sink ${sink > 0})\n`);
const startedAt = new Date();
const out = path.join("bench", "results", `ingest-codec-${startedAt.toISOString().replace(/[:.]/g, "-")}.json`);
await mkdir(path.dirname(out), { recursive: true });
await writeFile(
  out,
  `${JSON.stringify({ benchmark: "ingest-codec", startedAt: startedAt.toISOString(), node: process.version, dims: DIMS, perMessage: PER_MESSAGE, rounds: ROUNDS, iterations: ITERATIONS, results, summary }, null, 2)}\n`,
);
process.stdout.write(`wrote ${out}\n`);
