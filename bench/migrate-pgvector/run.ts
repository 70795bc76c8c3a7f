// Benchmark of `migrate-pgvector`: rows/s carrying N pgvector rows of D dimensions into Qdrant, and
// where the time goes (source read, decode, Qdrant upsert, Postgres write-back), plus a verify pass
// and the binary-vs-text decode ratio that motivates reading `vector_send`.
//
// Source: PGlite with pgvector behind its socket (default), or a real Postgres (`--postgres real`:
// DATABASE_URL, else postgres://dq:dq@127.0.0.1:5432/postgres) in a database copied from
// `dq_pgvector_template` (a database holding the vector extension, which .ci/run creates as a
// superuser once pgvector is built; the benchmark role itself needs only CREATEDB). `--with-hnsw`
// builds the index a real installation has, `((embedding::halfvec(D)) halfvec_cosine_ops)`, before
// anything runs, and adds what it costs: the batched schema phase under that index, the write-back the
// old way (an UPDATE of qdrant_point_id per batch) on a slice of rows, and the cutover's one-statement
// write-back after the column is gone. Target: the embedded Qdrant as its own process (default),
// in-process, or a real Qdrant (QDRANT_URL). Prints a summary and writes JSON to bench/results/.
// Speed claims are ratios within one run: these machines are shared and noisy.
//
//   npx tsx bench/migrate-pgvector/run.ts [--rows 20000] [--dims 3072] [--batch-size 512]
//       [--upsert-batch-size 256] [--qdrant process|in-process] [--catalogs 20] [--verify-sample 50]
//       [--postgres pglite|real] [--with-hnsw] [--null-rows 10] [--legacy-rows 500]
//       [--baseline DIR] [--rounds 3]
//
// `--baseline DIR` (another checkout, e.g. `git worktree add /tmp/base <commit>` with node_modules
// linked) adds a before/after ratio from one run: the pipelined pass (the command's defaults) by that
// checkout's migratePgvector and vector store, then by this one's, alternately, `--rounds` times each,
// every pass on a fresh Qdrant and the same rows; medians of rows/s and CPU per row.
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
import { loadConfig } from "../../src/config.js";
import { createEmbeddedPostgres } from "../../src/embedded/postgres.js";
import { createEmbeddedQdrant } from "../../src/embedded/qdrant/index.js";
import { cutoverPgvector } from "../../src/pgvector/cutover.js";
import { DEFAULT_UPSERT_BATCH_SIZE, migratePgvector } from "../../src/pgvector/migrate.js";
import { prepareOldSchema } from "../../src/pgvector/schema-phase.js";
import { createDatabase, databaseUrl, dropDatabase, randomDatabaseName } from "../../test/helpers/test-database.js";
import { decodePgvector } from "../../src/pgvector/vector-codec.js";
import { verifyPgvectorMigration } from "../../src/pgvector/verify.js";
import { runMigrations } from "../../src/stores/migrations.js";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";
import { createConfiguredVectorStore } from "../../src/backends/qdrant.js";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "20000" },
    dims: { type: "string", default: "3072" },
    "batch-size": { type: "string", default: "512" },
    // Default: the command's (each checkout its own, for runs against a baseline).
    "upsert-batch-size": { type: "string" },
    qdrant: { type: "string", default: "process" },
    catalogs: { type: "string", default: "20" },
    "verify-sample": { type: "string", default: "50" },
    "decode-rows": { type: "string", default: "2000" },
    postgres: { type: "string", default: "pglite" },
    "with-hnsw": { type: "boolean", default: false },
    "null-rows": { type: "string", default: "10" },
    "legacy-rows": { type: "string", default: "500" },
    baseline: { type: "string" },
    rounds: { type: "string", default: "3" },
  },
});
const BASELINE = values.baseline === undefined ? undefined : path.resolve(values.baseline);
const ROUNDS = Number(values.rounds);
/** Given on the command line; otherwise each checkout's own default. */
const UPSERT_BATCH_GIVEN = values["upsert-batch-size"] === undefined ? undefined : Number(values["upsert-batch-size"]);
const REAL = values.postgres === "real";
const WITH_HNSW = values["with-hnsw"] ?? false;
const NULL_ROWS = Number(values["null-rows"]);
const LEGACY_ROWS = Number(values["legacy-rows"]);
const PGVECTOR_TEMPLATE = "dq_pgvector_template";
const ROWS = Number(values.rows);
const DIMS = Number(values.dims);
const BATCH = Number(values["batch-size"]);
const UPSERT_BATCH = UPSERT_BATCH_GIVEN ?? DEFAULT_UPSERT_BATCH_SIZE;
const CATALOGS = Number(values.catalogs);
const VERIFY_SAMPLE = Number(values["verify-sample"]);
const DECODE_ROWS = Math.min(Number(values["decode-rows"]), ROWS);
const logger = pino({ level: "warn" });
const NO_ROWS = z.object({});

interface QdrantTarget {
  url: string;
  kind: string;
  /** The embedded Qdrant's own process, when it runs as one (its CPU is counted apart). */
  pid?: number;
  stop(): Promise<void>;
}

/** CPU seconds (user + system) of a process from /proc (Linux), or null where it cannot be read. */
function processCpuSeconds(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

interface CpuSnapshot {
  migrator: number;
  qdrant: number | null;
  postgres: number | null;
}

/**
 * CPU used so far by the three parties of a migration: this process (the migrator; with PGlite or an
 * in-process Qdrant, those too), the embedded Qdrant's process, and the Postgres backends serving the
 * bench database (real Postgres only: found by their process title, which names the database, and
 * sampled every 250 ms so a connection that closes during a run keeps what it used). Wall-clock shares
 * mislead on a shared machine; CPU per row does not.
 */
function createCpuMeter(qdrant: () => QdrantTarget, database: string | undefined) {
  const backends = new Map<number, number>();
  const sampleBackends = () => {
    if (database === undefined) return;
    for (const entry of fs.readdirSync("/proc")) {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) continue;
      try {
        const title = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
        if (!title.startsWith("postgres:") || !title.includes(` ${database} `)) continue;
      } catch {
        continue;
      }
      const cpu = processCpuSeconds(pid);
      if (cpu !== null) backends.set(pid, cpu);
    }
  };
  const timer = setInterval(sampleBackends, 250);
  timer.unref();
  return {
    snapshot(): CpuSnapshot {
      sampleBackends();
      const usage = process.cpuUsage();
      return {
        migrator: (usage.user + usage.system) / 1e6,
        qdrant: qdrant().pid === undefined ? null : processCpuSeconds(qdrant().pid!),
        postgres: database === undefined ? null : [...backends.values()].reduce((sum, cpu) => sum + cpu, 0),
      };
    },
    stop: () => clearInterval(timer),
  };
}

/** Microseconds of CPU per row in each party between two snapshots. */
function cpuPerRow(before: CpuSnapshot, after: CpuSnapshot, rows: number) {
  const perRow = (a: number | null, b: number | null) =>
    a === null || b === null || rows === 0 ? null : Math.round(((b - a) * 1e6) / rows);
  return {
    migratorUs: perRow(before.migrator, after.migrator),
    qdrantUs: perRow(before.qdrant, after.qdrant),
    postgresUs: perRow(before.postgres, after.postgres),
  };
}

type Side = "baseline" | "current";

interface BaselineComparison {
  dir: string;
  rounds: number;
  passes: Record<Side, Array<{ rowsPerSecond: number; cpuUsPerRow: ReturnType<typeof cpuPerRow> }>>;
  medians: Record<
    Side,
    { rowsPerSecond: number; migratorUs: number | null; qdrantUs: number | null; postgresUs: number | null }
  >;
  currentOverBaseline: number;
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
    pid: child.pid,
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

/** The old shape, filled with ROWS rows (the last NULL_ROWS without a vector). */
async function seed(pool: DatabasePool): Promise<number> {
  const started = performance.now();
  if (!REAL) await pool.query(sql.type(NO_ROWS)`CREATE EXTENSION IF NOT EXISTS vector`);
  await pool.query(sql.type(NO_ROWS)`
    CREATE TABLE dq_embeddings (id uuid, content text, embedding ${sql.identifier(["vector"])}(${sql.literalValue(String(DIMS))}), kind varchar, catalog_id uuid, metadata json)
  `);
  const catalogs = Array.from({ length: CATALOGS }, () => randomUUID());
  if (REAL) {
    // Server-side: random vectors without shipping ~30 KB of text per row.
    for (let start = 0; start < ROWS; start += 1000) {
      const count = Math.min(1000, ROWS - start);
      await pool.query(sql.type(NO_ROWS)`
        INSERT INTO dq_embeddings (id, content, embedding, kind, catalog_id, metadata)
        SELECT gen_random_uuid(),
               'Column: table_' || (i % 500) || '.column_' || i || ' stores the value of row ' || i,
               CASE WHEN i >= ${ROWS - NULL_ROWS}::int THEN NULL ELSE (SELECT array_agg(random() * 2 - 1)::real[]::vector FROM generate_series(1, ${DIMS}::int) WHERE i IS NOT NULL) END,
               CASE WHEN i % 5 = 0 THEN 'table' ELSE 'column' END,
               (${sql.array(catalogs, "uuid")})[1 + i % ${CATALOGS}::int],
               '{"source":"bench"}'::json
        FROM generate_series(${start}::int, ${start + count - 1}::int) AS i
      `);
      process.stderr.write(`\rseeding ${start + count}/${ROWS}`);
    }
    process.stderr.write("\n");
    return performance.now() - started;
  }
  for (let start = 0; start < ROWS; start += 200) {
    const count = Math.min(200, ROWS - start);
    const index = Array.from({ length: count }, (_, k) => start + k);
    await pool.query(sql.type(NO_ROWS)`
      INSERT INTO dq_embeddings (id, content, embedding, kind, catalog_id, metadata)
      SELECT * FROM unnest(
        ${sql.array(
          index.map(() => randomUUID()),
          "uuid",
        )},
        ${sql.array(
          index.map((i) => `Column: table_${i % 500}.column_${i} stores the value of row ${i}`),
          "text",
        )},
        ${sql.array(
          index.map((i) => vectorLiteral(i + 1)),
          "text",
        )}::vector[],
        ${sql.array(
          index.map((i) => (i % 5 === 0 ? "table" : "column")),
          "text",
        )},
        ${sql.array(
          index.map((i) => catalogs[i % CATALOGS]),
          "uuid",
        )},
        ${sql.array(
          index.map(() => '{"source":"bench"}'),
          "text",
        )}::json[]
      )
    `);
    if ((start / 200) % 20 === 0) process.stderr.write(`\rseeding ${start + count}/${ROWS}`);
  }
  process.stderr.write("\n");
  if (NULL_ROWS > 0) {
    await pool.query(sql.type(NO_ROWS)`
      UPDATE dq_embeddings SET embedding = NULL WHERE id IN (SELECT id FROM dq_embeddings ORDER BY id DESC LIMIT ${NULL_ROWS})
    `);
  }
  return performance.now() - started;
}

/** The index an installation searching pgvector has: HNSW on halfvec (vector's HNSW stops at 2000 dims). */
async function buildHnsw(pool: DatabasePool): Promise<number> {
  const started = performance.now();
  await pool.query(sql.type(NO_ROWS)`SET maintenance_work_mem = '512MB'`);
  await pool.query(sql.type(NO_ROWS)`
    CREATE INDEX dq_embeddings_embedding_hnsw ON dq_embeddings
    USING hnsw ((embedding::halfvec(${sql.literalValue(String(DIMS))})) halfvec_cosine_ops)
  `);
  return performance.now() - started;
}

/** The write-back as it was: an UPDATE of qdrant_point_id per batch of the pass, on LEGACY_ROWS rows. */
async function legacyWriteBack(pool: DatabasePool): Promise<{ rows: number; ms: number; rowsPerSecond: number }> {
  const ids = await pool.anyFirst(sql.type(z.object({ id: z.string() }))`
    SELECT id FROM dq_embeddings WHERE embedding IS NOT NULL ORDER BY id LIMIT ${LEGACY_ROWS}
  `);
  const started = performance.now();
  for (let start = 0; start < ids.length; start += BATCH) {
    await pool.query(sql.type(NO_ROWS)`
      UPDATE dq_embeddings SET qdrant_point_id = id::text WHERE id = ANY(${sql.array(ids.slice(start, start + BATCH), "uuid")})
    `);
  }
  const ms = performance.now() - started;
  // Leave the table as the migration expects it: no point ids written yet.
  await pool.query(
    sql.type(NO_ROWS)`UPDATE dq_embeddings SET qdrant_point_id = NULL WHERE id = ANY(${sql.array([...ids], "uuid")})`,
  );
  return { rows: ids.length, ms, rowsPerSecond: (ids.length * 1000) / ms };
}

interface Source {
  url: string;
  kind: string;
  stop(): Promise<void>;
}

async function openSource(dataDir: string): Promise<Source> {
  if (!REAL) {
    const postgres = createEmbeddedPostgres({
      logger: pino({ level: "silent" }),
      extensions: { vector: true },
      dataDir: path.join(dataDir, "postgres"),
    });
    const { url } = await postgres.start();
    return { url, kind: "PGlite 0.5 + pgvector 0.8 (in-process, socket)", stop: () => postgres.stop() };
  }
  const adminUrl = loadConfig(process.env).postgres.url ?? "postgres://dq:dq@127.0.0.1:5432/postgres";
  const name = randomDatabaseName("bench_pgvector");
  try {
    await createDatabase(adminUrl, name, PGVECTOR_TEMPLATE);
  } catch (error) {
    throw new Error(
      `--postgres real needs a database ${PGVECTOR_TEMPLATE} holding the vector extension (bash .ci/run builds pgvector and creates it): ${(error as Error).message}`,
      { cause: error },
    );
  }
  return {
    url: databaseUrl(adminUrl, name),
    kind: "real Postgres (copy of dq_pgvector_template)",
    stop: () => dropDatabase(adminUrl, name),
  };
}

/** Reading + decoding the same rows as pgvector's binary format and as its text form. */
async function decodeComparison(pool: DatabasePool) {
  const binary = performance.now();
  const rows = await pool.any(sql.type(z.object({ v: z.instanceof(Uint8Array) }))`
    SELECT vector_send(embedding) AS v FROM dq_embeddings WHERE embedding IS NOT NULL ORDER BY id LIMIT ${DECODE_ROWS}
  `);
  const binaryRead = performance.now() - binary;
  let mark = performance.now();
  let checksum = 0;
  for (const row of rows) checksum += decodePgvector(row.v, "vector")[0];
  const binaryDecode = performance.now() - mark;

  mark = performance.now();
  const texts = await pool.any(sql.type(z.object({ v: z.string() }))`
    SELECT embedding::text AS v FROM dq_embeddings WHERE embedding IS NOT NULL ORDER BY id LIMIT ${DECODE_ROWS}
  `);
  const textRead = performance.now() - mark;
  mark = performance.now();
  for (const row of texts) checksum -= Float32Array.from(row.v.slice(1, -1).split(",").map(Number))[0];
  const textDecode = performance.now() - mark;
  if (Math.abs(checksum) > 1e-3) throw new Error("binary and text decodes disagree");
  const perVector = (ms: number) => (ms * 1000) / rows.length;
  return {
    rows: rows.length,
    binary: {
      readMs: binaryRead,
      decodeMs: binaryDecode,
      decodeUsPerVector: perVector(binaryDecode),
      totalUsPerVector: perVector(binaryRead + binaryDecode),
    },
    text: {
      readMs: textRead,
      decodeMs: textDecode,
      decodeUsPerVector: perVector(textDecode),
      totalUsPerVector: perVector(textRead + textDecode),
    },
    decodeRatio: textDecode / binaryDecode,
    totalRatio: (textRead + textDecode) / (binaryRead + binaryDecode),
  };
}

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-migrate-pgvector-"));
  const postgres = await openSource(dataDir);
  const url = postgres.url;
  // Each pass gets a Qdrant of its own (a fresh process and data directory): the first pass's 240 MB
  // of update log would otherwise make the embedded server compact it into a snapshot during the
  // second pass, on that pass's clock.
  let qdrant = await startQdrant(path.join(dataDir, "qdrant-1"));
  const pool = await createPostgresPool({ url, maximumPoolSize: REAL ? 2 : 1, logger, statementTimeoutMs: 1_800_000 });
  try {
    console.error(`seeding ${ROWS} rows of ${DIMS} dimensions into ${postgres.kind}...`);
    const seedMs = await seed(pool);
    const pgvectorVersion = await pool.maybeOneFirst(
      sql.type(z.object({ v: z.string() }))`SELECT extversion AS v FROM pg_extension WHERE extname = 'vector'`,
    );
    const serverVersion = await pool.oneFirst(
      sql.type(z.object({ v: z.string() }))`SELECT current_setting('server_version') AS v`,
    );
    let hnswBuildMs: number | null = null;
    if (WITH_HNSW) {
      console.error("building the HNSW index...");
      hnswBuildMs = await buildHnsw(pool);
    }
    await pool.query(sql.type(NO_ROWS)`ANALYZE dq_embeddings`);
    // The schema phase: batches under the index, then the service's migration (cheap after it).
    console.error("schema phase...");
    const schema = await prepareOldSchema({ pool, logger });
    const migrationsStarted = performance.now();
    await runMigrations({ databaseUrl: url, logger });
    const migrationsMs = performance.now() - migrationsStarted;
    const legacy = WITH_HNSW && LEGACY_ROWS > 0 ? await legacyWriteBack(pool) : null;
    const decode = await decodeComparison(pool);

    const newStore = async (create = createConfiguredVectorStore) => {
      // As the command builds it: upserts carry vectors as bytes on their own connection.
      const target = new URL(qdrant.url);
      const backend = {
        client: new QdrantClient({ url: qdrant.url, compression: false, checkCompatibility: false }),
        host: target.hostname,
        port: Number(target.port),
        apiKey: undefined,
        close: async () => {},
      };
      const config = loadConfig({
        QDRANT_URL: qdrant.url,
        QDRANT_COLLECTION_NAME: `bench_${randomUUID().slice(0, 8)}`,
        EMBEDDING_DIMENSIONS: String(DIMS),
      });
      const store = create({ config, backend, model: "text-embedding-3-large", logger });
      await store.start();
      return store;
    };

    // 1. Sequential (no prefetch, one upsert in flight): the phases add up to the total.
    console.error("migrating, sequential...");
    const database = REAL
      ? await pool.oneFirst(sql.type(z.object({ name: z.string() }))`SELECT current_database() AS name`)
      : undefined;
    const cpuMeter = createCpuMeter(() => qdrant, database);
    const sequentialCpuBefore = cpuMeter.snapshot();
    const sequential = await migratePgvector(
      { pool, vectors: await newStore(), logger },
      {
        dimensions: DIMS,
        batchSize: BATCH,
        upsertBatchSize: UPSERT_BATCH,
        prefetch: false,
        upsertConcurrency: 1,
        skipMissing: true,
      },
    );
    const sequentialCpu = cpuPerRow(sequentialCpuBefore, cpuMeter.snapshot(), sequential.migrated);
    // Back to "nothing migrated" for the second run, into a fresh collection (without an index on the
    // vector column the first run wrote qdrant_point_id at its end: clear it too).
    await pool.query(sql.type(NO_ROWS)`DELETE FROM dq_pgvector_moved`);
    await pool.query(sql.type(NO_ROWS)`DELETE FROM dq_pgvector_migration`);
    if (sequential.pointIdsWritten > 0)
      await pool.query(sql.type(NO_ROWS)`UPDATE dq_embeddings SET qdrant_point_id = NULL`);
    // 2. Pipelined, as the command runs it: the next page is read while this one is upserted.
    if (qdrant.kind !== "external") {
      await qdrant.stop();
      qdrant = await startQdrant(path.join(dataDir, "qdrant-2"));
    }
    console.error("migrating, pipelined (the command's defaults)...");
    const vectors = await newStore();
    const pipelinedCpuBefore = cpuMeter.snapshot();
    const migrate = await migratePgvector(
      { pool, vectors, logger },
      { dimensions: DIMS, batchSize: BATCH, upsertBatchSize: UPSERT_BATCH, skipMissing: true },
    );
    const pipelinedCpu = cpuPerRow(pipelinedCpuBefore, cpuMeter.snapshot(), migrate.migrated);

    // 3. With --baseline: the pipelined pass by the baseline checkout and by this one, alternately.
    let baseline: BaselineComparison | null = null;
    let verified = vectors;
    if (BASELINE !== undefined) {
      const base = {
        migrate: (await import(
          path.join(BASELINE, "src/pgvector/migrate.ts")
        )) as typeof import("../../src/pgvector/migrate.js"),
        stores: (await import(
          path.join(BASELINE, "src/backends/qdrant.ts")
        )) as typeof import("../../src/backends/qdrant.js"),
      };
      const compareWithBaseline = async (): Promise<BaselineComparison> => {
        const passes: BaselineComparison["passes"] = { baseline: [], current: [] };
        for (let round = 1; round <= ROUNDS; round++) {
          for (const side of ["baseline", "current"] satisfies Side[]) {
            console.error(`round ${round}/${ROUNDS}: the ${side} checkout's pipelined pass...`);
            await pool.query(sql.type(NO_ROWS)`DELETE FROM dq_pgvector_moved`);
            await pool.query(sql.type(NO_ROWS)`DELETE FROM dq_pgvector_migration`);
            await pool.query(
              sql.type(NO_ROWS)`UPDATE dq_embeddings SET qdrant_point_id = NULL WHERE qdrant_point_id IS NOT NULL`,
            );
            if (qdrant.kind !== "external") {
              await qdrant.stop();
              qdrant = await startQdrant(path.join(dataDir, `qdrant-${side}-${round}`));
            }
            const store = await newStore(
              side === "baseline" ? base.stores.createConfiguredVectorStore : createConfiguredVectorStore,
            );
            const run = side === "baseline" ? base.migrate.migratePgvector : migratePgvector;
            const before = cpuMeter.snapshot();
            const report = await run(
              { pool, vectors: store, logger },
              { dimensions: DIMS, batchSize: BATCH, upsertBatchSize: UPSERT_BATCH_GIVEN, skipMissing: true },
            );
            passes[side].push({
              rowsPerSecond: report.rowsPerSecond,
              cpuUsPerRow: cpuPerRow(before, cpuMeter.snapshot(), report.migrated),
            });
            if (side === "current") verified = store;
          }
        }
        const median = (xs: Array<number | null>) => {
          const sorted = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
          return sorted.length === 0 ? null : sorted[Math.floor(sorted.length / 2)];
        };
        const medians = (side: Side) => ({
          rowsPerSecond: median(passes[side].map((p) => p.rowsPerSecond))!,
          migratorUs: median(passes[side].map((p) => p.cpuUsPerRow.migratorUs)),
          qdrantUs: median(passes[side].map((p) => p.cpuUsPerRow.qdrantUs)),
          postgresUs: median(passes[side].map((p) => p.cpuUsPerRow.postgresUs)),
        });
        const baselineMedians = medians("baseline");
        const currentMedians = medians("current");
        return {
          dir: BASELINE,
          rounds: ROUNDS,
          passes,
          medians: { baseline: baselineMedians, current: currentMedians },
          currentOverBaseline: currentMedians.rowsPerSecond / baselineMedians.rowsPerSecond,
        };
      };
      baseline = await compareWithBaseline();
    }
    cpuMeter.stop();
    console.error("verifying...");
    const verifyStarted = performance.now();
    const verify = await verifyPgvectorMigration(
      { pool, vectors: verified, logger },
      { dimensions: DIMS, sampleSize: VERIFY_SAMPLE },
    );
    const verifyMs = performance.now() - verifyStarted;
    // 4. The cutover: the column and its index go, then qdrant_point_id in one statement.
    let cutover: { ms: number; pointIdsWritten: number; droppedIndexes: string[]; rowsPerSecond: number } | null = null;
    if (verify.passed) {
      console.error("cutover...");
      const cutoverStarted = performance.now();
      const report = await cutoverPgvector({ pool, databaseUrl: url, logger }, {});
      const ms = performance.now() - cutoverStarted;
      cutover = {
        ms,
        pointIdsWritten: report.pointIdsWritten,
        droppedIndexes: report.droppedIndexes,
        rowsPerSecond: (report.pointIdsWritten * 1000) / ms,
      };
    }

    const summary = (report: typeof migrate, cpu: ReturnType<typeof cpuPerRow>) => {
      const t = report.timings;
      const share = (ms: number) => Math.round((ms / t.totalMs) * 1000) / 10;
      return {
        rows: report.migrated,
        rowsPerSecond: report.rowsPerSecond,
        totalMs: t.totalMs,
        phasesMs: { read: t.readMs, decode: t.decodeMs, qdrantUpsert: t.upsertMs, postgresWriteBack: t.writeBackMs },
        phasesPercentOfTotal: {
          read: share(t.readMs),
          decode: share(t.decodeMs),
          qdrantUpsert: share(t.upsertMs),
          postgresWriteBack: share(t.writeBackMs),
        },
        // What the Postgres side sustains alone (read + decode + side-table write-back): the rate of a
        // run whose Qdrant keeps up. Meaningful for the sequential run, whose phases do not overlap.
        postgresSideRowsPerSecond: (report.migrated * 1000) / (t.readMs + t.decodeMs + t.writeBackMs),
        // CPU per row in each process: what bounds the rate on a quiet 2-core machine.
        cpuUsPerRow: cpu,
        embedderCalls: report.embedderCalls,
        pointIdsWritten: report.pointIdsWritten,
        pointIdsDeferred: report.pointIdsDeferred,
        skipped: report.skipped.nullVector + report.skipped.wrongDimension,
      };
    };
    const seq = summary(sequential, sequentialCpu);
    const pipe = summary(migrate, pipelinedCpu);
    const result = {
      benchmark: "migrate-pgvector",
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
      command: `npx tsx bench/migrate-pgvector/run.ts ${process.argv.slice(2).join(" ")}`.trim(),
      setup: {
        rows: ROWS,
        nullRows: NULL_ROWS,
        dims: DIMS,
        catalogs: CATALOGS,
        batchSize: BATCH,
        upsertBatchSize: UPSERT_BATCH,
        source: postgres.kind,
        serverVersion,
        pgvectorVersion,
        hnsw: WITH_HNSW ? `((embedding::halfvec(${DIMS})) halfvec_cosine_ops)` : null,
        qdrant: qdrant.kind,
      },
      seedMs,
      hnswBuildMs,
      schemaPhase: {
        ...schema,
        rowsPerSecond: schema.rowsWritten > 0 ? (schema.rowsWritten * 1000) / schema.elapsedMs : null,
        migrationsAfterMs: migrationsMs,
      },
      legacyWriteBack: legacy,
      writeBackSpeedup: legacy === null ? null : pipe.rowsPerSecond / legacy.rowsPerSecond,
      cutover,
      sequential: seq,
      pipelined: pipe,
      pipelinedOverSequential: pipe.rowsPerSecond / seq.rowsPerSecond,
      baseline,
      verify: {
        passed: verify.passed,
        failures: verify.failures,
        excluded: verify.rows.excluded,
        ms: verifyMs,
        rowsPerSecond: (verify.rows.total * 1000) / verifyMs,
        meanRecall: verify.neighbours.meanRecall,
        samples: verify.neighbours.samples,
        maxDifference: verify.rows.maxDifference,
      },
      decode,
    };
    const line = (name: string, s: typeof seq) =>
      `  ${name}: ${Math.round(s.rowsPerSecond)} rows/s (${(s.totalMs / 1000).toFixed(1)} s)  read ${s.phasesPercentOfTotal.read}%  decode ${s.phasesPercentOfTotal.decode}%  Qdrant upsert ${s.phasesPercentOfTotal.qdrantUpsert}%  write-back ${s.phasesPercentOfTotal.postgresWriteBack}%\n` +
      `    CPU per row: migrator ${s.cpuUsPerRow.migratorUs ?? "?"} us, Qdrant ${s.cpuUsPerRow.qdrantUs ?? "(in-process)"} us, Postgres ${s.cpuUsPerRow.postgresUs ?? "(in-process)"} us`;
    console.log(
      [
        `migrate-pgvector: ${ROWS} rows x ${DIMS} dims (${NULL_ROWS} NULL), batch ${BATCH}/${UPSERT_BATCH}, ${postgres.kind} ${serverVersion} pgvector ${pgvectorVersion ?? "?"}${WITH_HNSW ? ", HNSW halfvec index" : ""}, Qdrant ${qdrant.kind}, embedding calls ${seq.embedderCalls + pipe.embedderCalls}`,
        ...(hnswBuildMs === null ? [] : [`  HNSW build: ${(hnswBuildMs / 1000).toFixed(1)} s`]),
        `  schema phase: ${schema.rowsWritten} rows in ${schema.batches} batches, ${(schema.elapsedMs / 1000).toFixed(1)} s (${Math.round(result.schemaPhase.rowsPerSecond ?? 0)} rows/s); service migration after it: ${(migrationsMs / 1000).toFixed(1)} s`,
        ...(legacy === null
          ? []
          : [
              `  old write-back (UPDATE qdrant_point_id per batch, under the index): ${Math.round(legacy.rowsPerSecond)} rows/s over ${legacy.rows} rows`,
            ]),
        line("sequential", seq),
        `  Postgres side alone (sequential read + decode + write-back): ${Math.round(seq.postgresSideRowsPerSecond)} rows/s`,
        line("pipelined ", pipe),
        ...(result.writeBackSpeedup === null
          ? []
          : [`  pipelined run / old write-back alone: ${result.writeBackSpeedup.toFixed(1)}x`]),
        ...(cutover === null
          ? []
          : [
              `  cutover: ${(cutover.ms / 1000).toFixed(1)} s, qdrant_point_id for ${cutover.pointIdsWritten} rows in one statement (${Math.round(cutover.rowsPerSecond)} rows/s incl. DROP COLUMN), dropped ${cutover.droppedIndexes.join(", ") || "no index"}`,
            ]),
        `  pipelined / sequential: ${result.pipelinedOverSequential.toFixed(2)}x (phases overlap when pipelined, so their shares add up to more than 100%)`,
        ...(baseline === null
          ? []
          : (["baseline", "current"] as const).map((side) => {
              const m = baseline.medians[side];
              return `  ${side} (${side === "baseline" ? baseline.dir : "this checkout"}), pipelined, median of ${baseline.rounds}: ${Math.round(m.rowsPerSecond)} rows/s (${baseline.passes[side].map((p) => Math.round(p.rowsPerSecond)).join(", ")}); CPU per row: migrator ${m.migratorUs ?? "?"} us, Qdrant ${m.qdrantUs ?? "(in-process)"} us, Postgres ${m.postgresUs ?? "(in-process)"} us`;
            })),
        ...(baseline === null ? [] : [`  current / baseline: ${baseline.currentOverBaseline.toFixed(2)}x`]),
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
