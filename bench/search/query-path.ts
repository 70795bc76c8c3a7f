/**
 * npx tsx bench/search/query-path.ts [-- --points 5000 --searches 1000 --rounds 5]
 *
 * The caller's CPU per Qdrant search, through the real client's Query (the query vector as a JS
 * number[]) and through the bytes path (stores/qdrant-wire/query-points.ts), in alternating rounds
 * against the embedded Qdrant as its own process (its CPU is not counted), 8 searches in flight. The
 * store's dense search and hybrid QueryBatch, as SearchEmbeddings and RetrieveContext send them.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { QdrantClient } from "@qdrant/js-client-grpc";
import { pino } from "pino";
import { encodeSparse } from "../../src/embedders/sparse-encoder.js";
import { createQdrantVectorStore, DENSE_VECTOR, SPARSE_VECTOR } from "../../src/stores/qdrant-vector-store.js";
import { createQdrantWireQuery } from "../../src/stores/qdrant-wire/query-points.js";
import { createQdrantWireUpsert } from "../../src/stores/qdrant-wire/upsert-points.js";
import type { VectorStore } from "../../src/stores/vector-store.js";
import { clusteredDataset } from "../ingest/dataset.js";
import { freePort, selfCpuSeconds, startNode } from "../ingest/processes.js";

const { values: args } = parseArgs({
  options: {
    points: { type: "string", default: "5000" },
    catalogs: { type: "string", default: "10" },
    dimensions: { type: "string", default: "3072" },
    searches: { type: "string", default: "1000" },
    rounds: { type: "string", default: "5" },
  },
});
const POINTS = Number(args.points);
const CATALOGS = Number(args.catalogs);
const DIMENSIONS = Number(args.dimensions);
const SEARCHES = Number(args.searches);
const ROUNDS = Number(args.rounds);
const logger = pino({ level: "silent" });

const work = mkdtempSync(join(tmpdir(), "bench-query-path-"));
const port = await freePort();
const qdrant = await startNode(
  "src/cli/embedded-qdrant.ts",
  ["--host", "127.0.0.1", "--port", String(port), "--data-dir", join(work, "qdrant")],
  {},
  (entry) => String(entry.msg ?? "").includes("ready"),
);
try {
  const client = new QdrantClient({ host: "127.0.0.1", port, compression: false, checkCompatibility: false });
  const common = { client, collectionName: "query_path", dimensions: DIMENSIONS, model: "bench", logger };
  const connection = { host: "127.0.0.1", port, timeoutMs: 60_000 };
  const stores: Record<string, VectorStore> = {
    client: createQdrantVectorStore(common),
    bytes: createQdrantVectorStore({ ...common, wireQuery: createQdrantWireQuery(connection) }),
  };
  const writer = createQdrantVectorStore({
    ...common,
    wireUpsert: createQdrantWireUpsert({ ...connection, vectorNames: { dense: DENSE_VECTOR, sparse: SPARSE_VECTOR } }),
  });
  await writer.start();
  const dataset = clusteredDataset({ count: POINTS, dimensions: DIMENSIONS, seed: 7 });
  const catalogs = Array.from({ length: CATALOGS }, () => randomUUID());
  for (let start = 0; start < POINTS; start += 256) {
    await writer.upsert(
      Array.from({ length: Math.min(256, POINTS - start) }, (_, offset) => {
        const i = start + offset;
        const content = `column c${i} of table t${i % 50}`;
        return {
          id: randomUUID(),
          vector: dataset.vector(i),
          sparse: encodeSparse(content),
          payload: {
            catalog_id: catalogs[i % CATALOGS],
            kind: "column",
            schema: "public",
            table: `t${i % 50}`,
            status: "pending" as const,
            content_hash: String(i),
            model: "bench",
          },
        };
      }),
    );
  }
  const calls = {
    search: (store: VectorStore, n: number) =>
      store.search({
        filter: { catalogId: catalogs[n % CATALOGS] },
        vector: dataset.vector((n * 7919) % POINTS),
        limit: 18,
      }),
    hybrid: (store: VectorStore, n: number) =>
      store.searchHybrid({
        filter: { catalogId: catalogs[n % CATALOGS] },
        vector: dataset.vector((n * 7919) % POINTS),
        sparse: encodeSparse("column of table t7"),
        limit: 60,
        candidates: 120,
        denseThreshold: -1,
      }),
  };
  const cpuUs: Record<string, number[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [callName, call] of Object.entries(calls)) {
      for (const [storeName, store] of Object.entries(stores)) {
        let n = 0;
        const before = selfCpuSeconds();
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (n < SEARCHES) await call(store, n++);
          }),
        );
        (cpuUs[`${callName} ${storeName}`] ??= []).push(((selfCpuSeconds() - before) * 1e6) / SEARCHES);
      }
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  for (const callName of Object.keys(calls)) {
    const client = median(cpuUs[`${callName} client`]);
    const bytes = median(cpuUs[`${callName} bytes`]);
    console.log(
      `${callName}: caller CPU per call, median of ${ROUNDS}: client Query ${client.toFixed(0)} us, bytes path ${bytes.toFixed(0)} us (${(bytes / client).toFixed(2)}x)`,
    );
  }
} finally {
  await qdrant.stop();
  rmSync(work, { recursive: true, force: true });
}
