// Benchmark of `migrate-pgvector`: rows/s carrying N pgvector rows of D dimensions into Qdrant, and
// where the time goes (source read, decode, Qdrant upsert, Postgres write-back), plus a verify pass
// and the binary-vs-text decode ratio that motivates reading `vector_send`. Source: PGlite with
// pgvector behind its socket (the real Postgres here has no pgvector); target: the embedded Qdrant as
// its own process (default), in-process, or a real Qdrant (QDRANT_URL). Prints a summary and writes
// JSON to bench/results/. Speed claims are ratios within one run: these machines are shared and noisy.
//
//   npx tsx bench/migrate-pgvector/run.ts [--rows 20000] [--dims 3072] [--batch-size 512]
//       [--upsert-batch-size 64] [--qdrant process|in-process] [--catalogs 20] [--verify-sample 50]
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { parseArgs } from "node:util";
import { QdrantClient } from "@qdrant/js-client-grpc";
import { pino } from "pino";
import { sql, type DatabasePool } from "slonik";
import { z } from "zod";
import { createEmbeddedPostgres } from "../../src/embedded/postgres.js";
import { createEmbeddedQdrant } from "../../src/embedded/qdrant/index.js";
import { migratePgvector } from "../../src/pgvector/migrate.js";
import { decodePgvector } from "../../src/pgvector/vector-codec.js";
import { verifyPgvectorMigration } from "../../src/pgvector/verify.js";
import { runMigrations } from "../../src/stores/migrations.js";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";
import { createQdrantVectorStore } from "../../src/stores/qdrant-vector-store.js";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "20000" },
    dims: { type: "string", default: "3072" },
    "batch-size": { type: "string", default: "512" },
    "upsert-batch-size": { type: "string", default: "64" },
    qdrant: { type: "string", default: "process" },
    catalogs: { type: "string", default: "20" },
    "verify-sample": { type: "string", default: "50" },
    "decode-rows": { type: "string", default: "2000" },
  },
});
const ROWS = Number(values.rows);
const DIMS = Number(values.dims);
const BATCH = Number(values["batch-size"]);
const UPSERT_BATCH = Number(values["upsert-batch-size"]);
const CATALOGS = Number(values.catalogs);
const VERIFY_SAMPLE = Number(values["verify-sample"]);
const DECODE_ROWS = Math.min(Number(values["decode-rows"]), ROWS);
const logger = pino({ level: "warn" });
const NO_ROWS = z.object({});

interface QdrantTarget {
  url: string;
  kind: string;
  stop(): Promise<void>;
}

async function startQdrant(dataDir: string): Promise<QdrantTarget> {
  if (process.env.QDRANT_URL) {
    return { url: process.env.QDRANT_URL, kind: "external", stop: async () => {} };
  }
  if (values.qdrant === "in-process") {
    const server = createEmbeddedQdrant({ logger: pino({ level: "silent" }), dataDir });
    const { port } = await server.start();
    return { url: `http://127.0.0.1:${port}`, kind: "embedded in-process", stop: () => server.stop() };
  }
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", "src/cli/embedded-qdrant.ts", "--port", "0", "--data-dir", dataDir, "--log-level", "info"],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`embedded Qdrant exited with ${code}`)));
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg?.includes("ready") && entry.port) resolve(entry.port);
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    kind: "embedded process",
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

function vectorLiteral(seed: number): string {
  let x = (seed * 2654435761) >>> 0 || 1;
  const parts = new Array<string>(DIMS);
  for (let i = 0; i < DIMS; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    parts[i] = (((x >>> 0) / 4294967296) * 2 - 1).toFixed(6);
  }
  return `[${parts.join(",")}]`;
}

/** The old shape, filled with ROWS rows, then `npm run migrate`'s first migration. */
async function seed(pool: DatabasePool, url: string): Promise<number> {
  const started = performance.now();
  await pool.query(sql.type(NO_ROWS)`CREATE EXTENSION IF NOT EXISTS vector`);
  await pool.query(sql.type(NO_ROWS)`
    CREATE TABLE dq_embeddings (id uuid, content text, embedding vector(3072), kind text, catalog_id uuid, metadata json)
  `);
  const catalogs = Array.from({ length: CATALOGS }, () => randomUUID());
  for (let start = 0; start < ROWS; start += 200) {
    const count = Math.min(200, ROWS - start);
    const index = Array.from({ length: count }, (_, k) => start + k);
    await pool.query(sql.type(NO_ROWS)`
      INSERT INTO dq_embeddings (id, content, embedding, kind, catalog_id, metadata)
      SELECT * FROM unnest(
        ${sql.array(index.map(() => randomUUID()), "uuid")},
        ${sql.array(index.map((i) => `Column: table_${i % 500}.column_${i} stores the value of row ${i}`), "text")},
        ${sql.array(index.map((i) => vectorLiteral(i + 1)), "text")}::vector[],
        ${sql.array(index.map((i) => (i % 5 === 0 ? "table" : "column")), "text")},
        ${sql.array(index.map((i) => catalogs[i % CATALOGS]), "uuid")},
        ${sql.array(index.map(() => '{"source":"bench"}'), "text")}::json[]
      )
    `);
    if ((start / 200) % 20 === 0) process.stderr.write(`\rseeding ${start + count}/${ROWS}`);
  }
  process.stderr.write("\n");
  await runMigrations({ databaseUrl: url, logger });
  return performance.now() - started;
}

/** Reading + decoding the same rows as pgvector's binary format and as its text form. */
async function decodeComparison(pool: DatabasePool) {
  const binary = performance.now();
  const rows = await pool.any(sql.type(z.object({ v: z.instanceof(Uint8Array) }))`
    SELECT vector_send(embedding) AS v FROM dq_embeddings ORDER BY id LIMIT ${DECODE_ROWS}
  `);
  const binaryRead = performance.now() - binary;
  let mark = performance.now();
  let checksum = 0;
  for (const row of rows) checksum += decodePgvector(row.v, "vector")[0];
  const binaryDecode = performance.now() - mark;

  mark = performance.now();
  const texts = await pool.any(sql.type(z.object({ v: z.string() }))`
    SELECT embedding::text AS v FROM dq_embeddings ORDER BY id LIMIT ${DECODE_ROWS}
  `);
  const textRead = performance.now() - mark;
  mark = performance.now();
  for (const row of texts) checksum -= Float32Array.from(row.v.slice(1, -1).split(",").map(Number))[0];
  const textDecode = performance.now() - mark;
  if (Math.abs(checksum) > 1e-3) throw new Error("binary and text decodes disagree");
  const perVector = (ms: number) => (ms * 1000) / rows.length;
  return {
    rows: rows.length,
    binary: { readMs: binaryRead, decodeMs: binaryDecode, decodeUsPerVector: perVector(binaryDecode), totalUsPerVector: perVector(binaryRead + binaryDecode) },
    text: { readMs: textRead, decodeMs: textDecode, decodeUsPerVector: perVector(textDecode), totalUsPerVector: perVector(textRead + textDecode) },
    decodeRatio: textDecode / binaryDecode,
    totalRatio: (textRead + textDecode) / (binaryRead + binaryDecode),
  };
}

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-migrate-pgvector-"));
  const postgres = createEmbeddedPostgres({ logger: pino({ level: "silent" }), extensions: { vector: true }, dataDir: path.join(dataDir, "postgres") });
  const { url } = await postgres.start();
  const qdrant = await startQdrant(path.join(dataDir, "qdrant"));
  const pool = await createPostgresPool({ url, maximumPoolSize: 1, logger, statementTimeoutMs: 600_000 });
  try {
    console.error(`seeding ${ROWS} rows of ${DIMS} dimensions into PGlite (pgvector)...`);
    const seedMs = await seed(pool, url);
    const decode = await decodeComparison(pool);

    const client = new QdrantClient({ url: qdrant.url, compression: false, checkCompatibility: false });
    const newStore = async () => {
      const store = createQdrantVectorStore({ client, collectionName: `bench_${randomUUID().slice(0, 8)}`, dimensions: DIMS, model: "text-embedding-3-large", logger });
      await store.start();
      return store;
    };

    // 1. Sequential (no prefetch, one upsert in flight): the phases add up to the total.
    console.error("migrating, sequential...");
    const sequential = await migratePgvector({ pool, vectors: await newStore(), logger }, { dimensions: DIMS, batchSize: BATCH, upsertBatchSize: UPSERT_BATCH, prefetch: false, upsertConcurrency: 1 });
    // Back to "nothing migrated" for the second run, into a fresh collection.
    await pool.query(sql.type(NO_ROWS)`UPDATE dq_embeddings SET qdrant_point_id = NULL`);
    await pool.query(sql.type(NO_ROWS)`DELETE FROM dq_pgvector_migration`);
    // 2. Pipelined, as the command runs it: the next page is read while this one is upserted.
    console.error("migrating, pipelined (the command's defaults)...");
    const vectors = await newStore();
    const migrate = await migratePgvector({ pool, vectors, logger }, { dimensions: DIMS, batchSize: BATCH, upsertBatchSize: UPSERT_BATCH });
    console.error("verifying...");
    const verifyStarted = performance.now();
    const verify = await verifyPgvectorMigration({ pool, vectors, logger }, { dimensions: DIMS, sampleSize: VERIFY_SAMPLE });
    const verifyMs = performance.now() - verifyStarted;

    const summary = (report: typeof migrate) => {
      const t = report.timings;
      const share = (ms: number) => Math.round((ms / t.totalMs) * 1000) / 10;
      return {
        rows: report.migrated,
        rowsPerSecond: report.rowsPerSecond,
        totalMs: t.totalMs,
        phasesMs: { read: t.readMs, decode: t.decodeMs, qdrantUpsert: t.upsertMs, postgresWriteBack: t.writeBackMs },
        phasesPercentOfTotal: { read: share(t.readMs), decode: share(t.decodeMs), qdrantUpsert: share(t.upsertMs), postgresWriteBack: share(t.writeBackMs) },
        embedderCalls: report.embedderCalls,
      };
    };
    const seq = summary(sequential);
    const pipe = summary(migrate);
    const result = {
      benchmark: "migrate-pgvector",
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
      setup: { rows: ROWS, dims: DIMS, catalogs: CATALOGS, batchSize: BATCH, upsertBatchSize: UPSERT_BATCH, source: "PGlite 0.5 + pgvector 0.8 (in-process, socket)", qdrant: qdrant.kind },
      seedMs,
      sequential: seq,
      pipelined: pipe,
      pipelinedOverSequential: pipe.rowsPerSecond / seq.rowsPerSecond,
      verify: { passed: verify.passed, ms: verifyMs, rowsPerSecond: (verify.rows.total * 1000) / verifyMs, meanRecall: verify.neighbours.meanRecall, samples: verify.neighbours.samples, maxDifference: verify.rows.maxDifference },
      decode,
    };
    const line = (name: string, s: typeof seq) =>
      `  ${name}: ${Math.round(s.rowsPerSecond)} rows/s (${(s.totalMs / 1000).toFixed(1)} s)  read ${s.phasesPercentOfTotal.read}%  decode ${s.phasesPercentOfTotal.decode}%  Qdrant upsert ${s.phasesPercentOfTotal.qdrantUpsert}%  write-back ${s.phasesPercentOfTotal.postgresWriteBack}%`;
    console.log(
      [
        `migrate-pgvector: ${ROWS} rows x ${DIMS} dims, batch ${BATCH}/${UPSERT_BATCH}, Qdrant ${qdrant.kind}, embedding calls ${seq.embedderCalls + pipe.embedderCalls}`,
        line("sequential", seq),
        line("pipelined ", pipe),
        `  pipelined / sequential: ${result.pipelinedOverSequential.toFixed(2)}x (phases overlap when pipelined, so their shares add up to more than 100%)`,
        `  verify: ${verify.passed ? "passed" : "FAILED"} in ${(verifyMs / 1000).toFixed(1)} s (${Math.round(result.verify.rowsPerSecond)} rows/s), recall@10 ${verify.neighbours.meanRecall.toFixed(4)} over ${verify.neighbours.samples} samples`,
        `  decode per vector: binary ${decode.binary.decodeUsPerVector.toFixed(1)} us vs text ${decode.text.decodeUsPerVector.toFixed(1)} us (${decode.decodeRatio.toFixed(1)}x); read+decode ${decode.totalRatio.toFixed(1)}x`,
      ].join("\n"),
    );
    const out = path.join("bench", "results", `migrate-pgvector-${result.date.replace(/[:.]/g, "-")}.json`);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`results written to ${out}`);
  } finally {
    await pool.end();
    await qdrant.stop();
    await postgres.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
