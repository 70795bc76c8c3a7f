/**
 * issues 7 and 16: an installation in the old shape (pgvector column in dq_embeddings) moves to Qdrant
 * without re-embedding. Source: PGlite with its pgvector extension, and the real Postgres when it has
 * pgvector (a `dq_pgvector_template` database, made by .ci/run); target: the embedded Qdrant over gRPC;
 * embedder: the real OpenAI SDK against the fake server, whose recorded requests prove what was embedded.
 * The command runs in-process (`runMigratePgvectorCommand`); only the SIGKILL test needs a child (the
 * one end-to-end run of `src/cli/migrate-pgvector.ts`), and it resumes in-process.
 */
import { spawn } from "node:child_process";
import { PassThrough } from "node:stream";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { QdrantClient } from "@qdrant/js-client-grpc";
import { pino } from "pino";
import { sql, type DatabasePool, type FragmentSqlToken } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { contentHash } from "../../src/core/hash.js";
import { createEmbeddedQdrant, type EmbeddedQdrant } from "../../src/embedded/qdrant/index.js";
import { createOpenAIEmbedder } from "../../src/embedders/openai-embedder.js";
import { runMigratePgvectorCommand } from "../../src/pgvector/command.js";
import { cutoverPgvector } from "../../src/pgvector/cutover.js";
import { rollbackPgvector } from "../../src/pgvector/rollback.js";
import { dryRunPgvector } from "../../src/pgvector/dry-run.js";
import { migratePgvector, type MigrateOptions } from "../../src/pgvector/migrate.js";
import { prepareOldSchema } from "../../src/pgvector/schema-phase.js";
import { verifyPgvectorMigration } from "../../src/pgvector/verify.js";
import { normalizedMaxDifference } from "../../src/pgvector/vector-math.js";
import { runMigrations } from "../../src/stores/migrations.js";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";
import { createQdrantVectorStore } from "../../src/stores/qdrant-vector-store.js";
import type { VectorStore } from "../../src/stores/vector-store.js";
import { createFakeOpenAIServer } from "../helpers/fake-openai-server.js";
import {
  createDatabase,
  createPgliteTestDatabase,
  databaseUrl,
  dropDatabase,
  hasPgvectorTemplate,
  PGVECTOR_TEMPLATE,
  randomDatabaseName,
  testDatabaseTarget,
  type TestDatabase,
} from "../helpers/test-database.js";

// The integration project runs PGlite on baseline WebAssembly code (vitest.config.ts); this file does
// seconds of pgvector compute in it, where V8's optimizing tier pays for itself (here 72 s against 101 s
// under the same load). Each test file has a process of its own, and nothing has compiled PGlite yet.
setFlagsFromString("--no-liftoff-only");

const DIMENSIONS = 3072;
const MODEL = "text-embedding-3-large";
const logger = pino({ level: "silent" });
const NO_ROWS = z.object({});

const COLUMN_TYPES = {
  vector: sql.fragment`vector(3072)`,
  halfvec: sql.fragment`halfvec(3072)`,
  unconstrained: sql.fragment`vector`,
} satisfies Record<string, FragmentSqlToken>;

interface SeedRow {
  id: string;
  catalogId: string;
  kind: string;
  content: string;
  vector: Float32Array | null;
}

/** A deterministic generator, so failures reproduce. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0xffffffff;
  };
}

function randomVector(next: () => number, dimensions: number): Float32Array {
  const vector = new Float32Array(dimensions);
  for (let i = 0; i < dimensions; i++) vector[i] = next() * 2 - 1;
  return vector;
}

/**
 * pgvector's text form. Nine significant digits give back the same float32 (a double's 17 would only
 * make PGlite parse twice the text when seeding).
 */
function literal(vector: Float32Array | null): string | null {
  if (vector === null) return null;
  const parts = new Array<string>(vector.length);
  for (let i = 0; i < vector.length; i++) parts[i] = vector[i].toPrecision(9);
  return `[${parts.join(",")}]`;
}

function seedRows(
  count: number,
  options: { seed: number; catalogs: string[]; nullEvery?: number; shortEvery?: number },
): SeedRow[] {
  const next = random(options.seed);
  return Array.from({ length: count }, (_, index) => {
    const isNull = options.nullEvery !== undefined && index % options.nullEvery === options.nullEvery - 1;
    const isShort = options.shortEvery !== undefined && index % options.shortEvery === options.shortEvery - 2;
    return {
      id: randomUUID(),
      catalogId: options.catalogs[index % options.catalogs.length],
      kind: index % 3 === 0 ? "table" : "column",
      content: `Column: table_${index}.column_${index} holds value ${index}`,
      vector: isNull ? null : randomVector(next, isShort ? 1536 : DIMENSIONS),
    };
  });
}

interface Fixture {
  database: TestDatabase;
  pool: DatabasePool;
  vectors: VectorStore;
  rows: SeedRow[];
  close(): Promise<void>;
}

/** A PGlite database holding the OLD table (pgvector column), then migrated to the service's shape. */
async function createFixture(
  qdrant: { host: string; port: number },
  columnType: keyof typeof COLUMN_TYPES,
  rows: SeedRow[],
  options: { schemaMigrated?: boolean } = {},
): Promise<Fixture> {
  const database = await createPgliteTestDatabase({ vector: true, migrated: false });
  const pool = await createPostgresPool({ url: database.url, maximumPoolSize: database.maximumPoolSize, logger });
  await pool.query(sql.type(NO_ROWS)`CREATE EXTENSION IF NOT EXISTS vector`);
  await pool.query(sql.type(NO_ROWS)`
    CREATE TABLE dq_embeddings (id uuid, content text, embedding ${COLUMN_TYPES[columnType]}, kind text, catalog_id uuid, metadata json)
  `);
  const cast = columnType === "halfvec" ? sql.fragment`halfvec[]` : sql.fragment`vector[]`;
  for (let start = 0; start < rows.length; start += 100) {
    const chunk = rows.slice(start, start + 100);
    await pool.query(sql.type(NO_ROWS)`
      INSERT INTO dq_embeddings (id, content, embedding, kind, catalog_id, metadata)
      SELECT * FROM unnest(
        ${sql.array(
          chunk.map((row) => row.id),
          "uuid",
        )},
        ${sql.array(
          chunk.map((row) => row.content),
          "text",
        )},
        ${sql.array(
          chunk.map((row) => literal(row.vector)),
          "text",
        )}::${cast},
        ${sql.array(
          chunk.map((row) => row.kind),
          "text",
        )},
        ${sql.array(
          chunk.map((row) => row.catalogId),
          "uuid",
        )},
        ${sql.array(
          chunk.map(() => '{"source":"old"}'),
          "text",
        )}::json[]
      )
    `);
  }
  // The first migration brings the old table to the service's shape (and adds the checkpoint table).
  if (options.schemaMigrated ?? true) {
    await runMigrations({ databaseUrl: database.url, logger });
  }
  const client = new QdrantClient({
    host: qdrant.host,
    port: qdrant.port,
    compression: false,
    checkCompatibility: false,
  });
  const vectors = createQdrantVectorStore({
    client,
    collectionName: `pgvector_${randomUUID().slice(0, 8)}`,
    dimensions: DIMENSIONS,
    model: MODEL,
    logger,
  });
  await vectors.start();
  return {
    database,
    pool,
    vectors,
    rows,
    async close() {
      await pool.end();
      await database.drop();
    },
  };
}

const pointIdsSchema = z.object({ id: z.string(), qdrantPointId: z.string().nullable() });

async function pointIds(pool: DatabasePool): Promise<Map<string, string | null>> {
  const rows = await pool.any(
    sql.type(pointIdsSchema)`SELECT id, qdrant_point_id AS "qdrantPointId" FROM dq_embeddings`,
  );
  return new Map(rows.map((row) => [row.id, row.qdrantPointId]));
}

/** Rows the migration recorded in its side table, by origin. */
async function moved(pool: DatabasePool, origin = "pgvector"): Promise<number> {
  return pool.oneFirst(
    sql.type(
      z.object({ count: z.number() }),
    )`SELECT count(*)::int AS count FROM dq_pgvector_moved WHERE origin = ${origin}`,
  );
}

/** The command in this process, its output captured. */
async function runCommand(
  env: Record<string, string | undefined>,
  args: string[],
  signal?: AbortSignal,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const capture = () => {
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
  };
  const stdout = capture();
  const stderr = capture();
  const code = await runMigratePgvectorCommand(args, { env, stdout: stdout.stream, stderr: stderr.stream, signal });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

async function allPoints(vectors: VectorStore): Promise<number> {
  let count = 0;
  for (let afterId: string | undefined, first = true; first || afterId !== undefined; first = false) {
    const page = await vectors.scroll({ afterId, limit: 500 });
    count += page.points.length;
    afterId = page.nextId;
  }
  return count;
}

const openai = createFakeOpenAIServer();
let qdrantServer: EmbeddedQdrant;
let qdrant: { host: string; port: number };
let openaiBaseURL: string;

beforeAll(async () => {
  qdrantServer = createEmbeddedQdrant({ host: "127.0.0.1", port: 0, logger });
  qdrant = await qdrantServer.start();
  ({ baseURL: openaiBaseURL } = await openai.start());
});

afterAll(async () => {
  await qdrantServer?.stop();
  await openai.stop();
});

function embedder() {
  return createOpenAIEmbedder({
    apiKey: "test-key",
    baseURL: openaiBaseURL,
    model: MODEL,
    dimensions: DIMENSIONS,
    maxRetries: 0,
    logger,
  });
}

describe("migrate-pgvector: vector(3072)", () => {
  const catalogs = [randomUUID(), randomUUID(), randomUUID()];
  // 240 rows, every 40th without a vector: 6 null vectors, 234 to carry over.
  const rows = seedRows(240, { seed: 7, catalogs, nullEvery: 40 });
  const usable = rows.filter((row) => row.vector !== null);
  const nulls = rows.filter((row) => row.vector === null);
  let fixture: Fixture;
  const options: MigrateOptions = { dimensions: DIMENSIONS, batchSize: 50 };

  beforeAll(async () => {
    openai.reset();
    fixture = await createFixture(qdrant, "vector", rows);
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it("dry run counts rows, dimensions and null vectors and writes nothing", async () => {
    const report = await dryRunPgvector({ pool: fixture.pool, logger }, { dimensions: DIMENSIONS });
    expect(report).toMatchObject({
      columnType: "vector(3072)",
      schemaMigrated: true,
      totalRows: 240,
      catalogs: 3,
      alreadyMigrated: 0,
      toMigrate: usable.length,
      dimensionsFound: [
        { dimensions: DIMENSIONS, rows: usable.length },
        { dimensions: null, rows: nulls.length },
      ],
    });
    expect(report.unusable.nullVector).toBe(nulls.length);
    expect(report.unusable.rows.map((row) => row.id).sort()).toEqual(nulls.map((row) => row.id).sort());
    expect(await allPoints(fixture.vectors)).toBe(0);
    expect([...(await pointIds(fixture.pool)).values()].every((id) => id === null)).toBe(true);
  });

  it("an aborted run stops after its batch and keeps the checkpoint; the next run resumes there", async () => {
    const controller = new AbortController();
    const first = await migratePgvector(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { ...options, signal: controller.signal, onBatch: ({ index }) => index === 2 && controller.abort() },
    );
    expect(first).toMatchObject({ interrupted: true, completed: false, batches: 2, scanned: 100, pointIdsWritten: 0 });
    // Progress is in the side table; the old table is not written until the pass ends.
    expect(await moved(fixture.pool)).toBe(first.migrated);
    expect([...(await pointIds(fixture.pool)).values()].every((id) => id === null)).toBe(true);
    expect(await allPoints(fixture.vectors)).toBe(first.migrated);

    const second = await migratePgvector({ pool: fixture.pool, vectors: fixture.vectors, logger }, options);
    expect(second.resumed).toBe(true);
    expect(second.resumedAfterId).not.toBeNull();
    expect(second.completed).toBe(true);
    // Nothing was read twice: the two runs together scanned each row once.
    expect(first.scanned + second.scanned).toBe(240);
    expect(first.migrated + second.migrated).toBe(usable.length);
    // No index uses the column here: qdrant_point_id is written in one statement at the end.
    expect(second).toMatchObject({ pointIdsDeferred: false, pointIdsWritten: usable.length, vectorIndexes: [] });
    const ids = await pointIds(fixture.pool);
    for (const row of usable) expect(ids.get(row.id)).toBe(row.id);
    for (const row of nulls) expect(ids.get(row.id)).toBeNull();
    expect(second.unusable.nullVector).toBe(nulls.length);
    expect(second.unusable.rows.map((row) => row.reason)).toEqual(nulls.map(() => "null_vector"));
    expect(await allPoints(fixture.vectors)).toBe(usable.length);
  });

  it("carries every vector and the service's payload over, with no embedding call", async () => {
    const points = await fixture.vectors.get(
      usable.map((row) => row.id),
      { withVector: true },
    );
    expect(points).toHaveLength(usable.length);
    const byId = new Map(points.map((point) => [point.id, point]));
    for (const row of usable) {
      const point = byId.get(row.id)!;
      expect(point.payload).toEqual({
        catalog_id: row.catalogId,
        kind: row.kind,
        schema: null,
        table: null,
        status: "pending",
        content_hash: contentHash(row.content),
        model: MODEL,
      });
      expect(normalizedMaxDifference(point.vector!, row.vector!)).toBeLessThan(1e-6);
    }
    expect(openai.requests).toEqual([]);
  });

  it("a second run is idempotent: no upsert, no write, no embedding call", async () => {
    const before = await pointIds(fixture.pool);
    const report = await migratePgvector({ pool: fixture.pool, vectors: fixture.vectors, logger }, options);
    expect(report).toMatchObject({ resumed: false, migrated: 0, completed: true, embedderCalls: 0 });
    // Only the rows without a usable vector are read (and listed) again.
    expect(report.scanned).toBe(nulls.length);
    expect(await pointIds(fixture.pool)).toEqual(before);
    expect(await allPoints(fixture.vectors)).toBe(usable.length);
    expect(openai.requests).toEqual([]);
  });

  it("verify fails while null vectors have no point, and cutover refuses", async () => {
    const report = await verifyPgvectorMigration(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { dimensions: DIMENSIONS, sampleSize: 10 },
    );
    expect(report.passed).toBe(false);
    expect(report.rows.missingPoints).toBe(nulls.length);
    expect(report.failures.join(" ")).toContain("--reembed-missing");
    expect(report.model).toEqual({ expected: MODEL, mismatches: 0, mismatchIds: [] });
    expect(report.neighbours.meanRecall).toBeGreaterThanOrEqual(0.99);
    await expect(cutoverPgvector({ pool: fixture.pool, databaseUrl: fixture.database.url, logger })).rejects.toThrow(
      /verification/,
    );
  });

  it("--reembed-missing refuses an embedder of another model than the collection's, before any work", async () => {
    const other = createOpenAIEmbedder({
      apiKey: "test-key",
      baseURL: openaiBaseURL,
      model: "text-embedding-3-small",
      dimensions: DIMENSIONS,
      maxRetries: 0,
      logger,
    });
    await expect(
      migratePgvector(
        { pool: fixture.pool, vectors: fixture.vectors, logger, embedder: other },
        { ...options, reembedMissing: true },
      ),
    ).rejects.toThrow(
      /text-embedding-3-small into a collection of text-embedding-3-large vectors: set OPENAI_API_KEY and EMBEDDING_MODEL=text-embedding-3-large/,
    );
    expect(openai.requests).toEqual([]);
    expect(await moved(fixture.pool, "reembedded")).toBe(0);
  });

  it("--reembed-missing embeds exactly the rows without a vector", async () => {
    openai.reset();
    const report = await migratePgvector(
      { pool: fixture.pool, vectors: fixture.vectors, logger, embedder: embedder() },
      { ...options, reembedMissing: true },
    );
    expect(report.reembedded).toBe(nulls.length);
    expect(report.migrated).toBe(0);
    expect(report.unusable.nullVector).toBe(0);
    const sent = openai.requests.flatMap((request) => request.input);
    expect(sent.sort()).toEqual(nulls.map((row) => row.content).sort());
    const points = await fixture.vectors.get(nulls.map((row) => row.id));
    expect(points.map((point) => point.payload.model)).toEqual(nulls.map(() => MODEL));
    expect(await allPoints(fixture.vectors)).toBe(rows.length);
    expect(await moved(fixture.pool, "reembedded")).toBe(nulls.length);
    openai.reset();
  });

  it("verify passes, and fails when one point is corrupted", async () => {
    const passing = await verifyPgvectorMigration(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { dimensions: DIMENSIONS, sampleSize: 20 },
    );
    expect(passing.failures).toEqual([]);
    expect(passing.passed).toBe(true);
    expect(passing.rows).toMatchObject({
      total: 240,
      missingPoints: 0,
      payloadMismatches: 0,
      vectorMismatches: 0,
      vectorsCompared: usable.length,
    });
    expect(passing.catalogs.mismatched).toEqual([]);
    expect(passing.neighbours.samples).toBe(20);
    expect(passing.neighbours.meanRecall).toBeGreaterThanOrEqual(0.99);

    const victim = usable[5];
    const [stored] = await fixture.vectors.get([victim.id]);
    const next = random(99);
    await fixture.vectors.upsert([{ id: victim.id, vector: randomVector(next, DIMENSIONS), payload: stored.payload }]);
    const failing = await verifyPgvectorMigration(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { dimensions: DIMENSIONS, sampleSize: 20 },
    );
    expect(failing.passed).toBe(false);
    expect(failing.rows.vectorMismatchIds).toEqual([victim.id]);
    await expect(cutoverPgvector({ pool: fixture.pool, databaseUrl: fixture.database.url, logger })).rejects.toThrow(
      /failed/,
    );

    // A lost point: counted per catalog and listed.
    await fixture.vectors.delete([victim.id]);
    const lost = await verifyPgvectorMigration(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { dimensions: DIMENSIONS, sampleSize: 5 },
    );
    expect(lost.passed).toBe(false);
    expect(lost.rows.missingPointIds).toEqual([victim.id]);
    expect(lost.catalogs.mismatched).toEqual([{ catalogId: victim.catalogId, rows: 80, points: 79 }]);

    // A payload that is not the service's.
    await fixture.vectors.upsert([
      { id: victim.id, vector: victim.vector!, payload: { ...stored.payload, kind: "view" } },
    ]);
    const payload = await verifyPgvectorMigration(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { dimensions: DIMENSIONS, sampleSize: 5 },
    );
    expect(payload.passed).toBe(false);
    expect(payload.rows.payloadMismatchIds).toEqual([victim.id]);
    expect(payload.rows.vectorMismatches).toBe(0);

    // A point made by another model: every point's model is checked, not only the rows' payloads.
    await fixture.vectors.upsert([
      { id: victim.id, vector: victim.vector!, payload: { ...stored.payload, model: "local-hash-v1" } },
    ]);
    const mixed = await verifyPgvectorMigration(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { dimensions: DIMENSIONS, sampleSize: 5 },
    );
    expect(mixed.passed).toBe(false);
    expect(mixed.model).toEqual({ expected: MODEL, mismatches: 1, mismatchIds: [victim.id] });
    expect(mixed.failures.join(" ")).toContain("another model");

    // Repaired, it passes again.
    await fixture.vectors.upsert([{ id: victim.id, vector: victim.vector!, payload: stored.payload }]);
    const repaired = await verifyPgvectorMigration(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { dimensions: DIMENSIONS, sampleSize: 20 },
    );
    expect(repaired.passed).toBe(true);
  });

  it("cutover drops the column and the extension; rollback brings both and every vector back, NULL where there was none", async () => {
    // A run that writes nothing keeps the verification valid.
    expect((await migratePgvector({ pool: fixture.pool, vectors: fixture.vectors, logger }, options)).migrated).toBe(0);
    const cutover = await cutoverPgvector({ pool: fixture.pool, databaseUrl: fixture.database.url, logger });
    expect(cutover).toMatchObject({ droppedColumnType: "vector(3072)", extensionDropped: true });
    const columns = await fixture.pool.anyFirst(
      sql.type(
        z.object({ name: z.string() }),
      )`SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'dq_embeddings'`,
    );
    expect(columns).not.toContain("embedding");
    expect(columns).toContain("qdrant_point_id");
    await expect(cutoverPgvector({ pool: fixture.pool, databaseUrl: fixture.database.url, logger })).rejects.toThrow(
      /already/,
    );

    const rollback = await rollbackPgvector({
      pool: fixture.pool,
      databaseUrl: fixture.database.url,
      logger,
      vectors: fixture.vectors,
    });
    expect(rollback).toMatchObject({
      recreatedColumn: true,
      columnType: "vector(3072)",
      indexes: [],
      restored: usable.length,
      restoredNull: nulls.length,
      missingPoints: 0,
    });
    expect([...rollback.restoredNullIds].sort()).toEqual(nulls.map((row) => row.id).sort());
    const restored = await fixture.pool.any(
      sql.type(
        z.object({ id: z.string(), vector: z.instanceof(Uint8Array).nullable() }),
      )`SELECT id, vector_send(embedding) AS vector FROM dq_embeddings`,
    );
    expect(restored).toHaveLength(rows.length);
    // The rows that had no vector have none again (their re-embedded point stays in Qdrant only).
    expect(
      restored
        .filter((row) => row.vector === null)
        .map((row) => row.id)
        .sort(),
    ).toEqual(nulls.map((row) => row.id).sort());
    const { decodePgvector } = await import("../../src/pgvector/vector-codec.js");
    const original = new Map(usable.map((row) => [row.id, row.vector!]));
    for (const row of restored) {
      const expected = original.get(row.id);
      if (expected !== undefined) {
        // Qdrant stores cosine vectors normalized: equal up to length.
        expect(normalizedMaxDifference(decodePgvector(row.vector!, "vector"), expected)).toBeLessThan(1e-6);
      }
    }
    // pgvector answers the same nearest neighbours again.
    const probe = usable[0];
    const nearest = await fixture.pool.anyFirst(sql.type(z.object({ id: z.string() }))`
      SELECT id FROM dq_embeddings WHERE catalog_id = ${probe.catalogId}::uuid
      ORDER BY embedding <=> (SELECT embedding FROM dq_embeddings WHERE id = ${probe.id}::uuid) LIMIT 1
    `);
    expect(nearest).toEqual([probe.id]);
    expect([...(await pointIds(fixture.pool)).values()].every((id) => id === null)).toBe(true);
    expect(await moved(fixture.pool)).toBe(0);

    // And the migration runs again from there, to the same end.
    const again = await migratePgvector({ pool: fixture.pool, vectors: fixture.vectors, logger }, options);
    expect(again.migrated).toBe(usable.length);
    expect(again.unusable.nullVector).toBe(nulls.length);
    expect(openai.requests).toEqual([]);
  });
});

describe("migrate-pgvector: an installation still in the old shape", () => {
  const rows = seedRows(30, { seed: 5, catalogs: [randomUUID()], nullEvery: 10 });
  let fixture: Fixture;

  beforeAll(async () => {
    fixture = await createFixture(qdrant, "vector", rows, { schemaMigrated: false });
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it("dry run reads the old table as it is; the migration waits for npm run migrate", async () => {
    const dry = await dryRunPgvector({ pool: fixture.pool, logger }, { dimensions: DIMENSIONS });
    expect(dry).toMatchObject({
      schemaMigrated: false,
      totalRows: 30,
      alreadyMigrated: 0,
      toMigrate: 27,
      resumeAfterId: null,
    });
    expect(dry.unusable.nullVector).toBe(3);
    expect(dry.plan[0]).toContain("npm run migrate");
    await expect(
      migratePgvector({ pool: fixture.pool, vectors: fixture.vectors, logger }, { dimensions: DIMENSIONS }),
    ).rejects.toThrow(/npm run migrate/);

    await runMigrations({ databaseUrl: fixture.database.url, logger });
    const report = await migratePgvector(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { dimensions: DIMENSIONS },
    );
    expect(report.migrated).toBe(27);
  });
});

describe("migrate-pgvector: a run that fails half-way", () => {
  const catalogs = [randomUUID(), randomUUID()];
  const rows = seedRows(120, { seed: 11, catalogs });
  let fixture: Fixture;

  beforeAll(async () => {
    fixture = await createFixture(qdrant, "vector", rows);
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it("resumes after Qdrant fails on the third batch, upserting again what was not written back", async () => {
    let upserts = 0;
    const failing: VectorStore = {
      ...fixture.vectors,
      async upsert(points, callOptions) {
        upserts++;
        await fixture.vectors.upsert(points, callOptions);
        // The points of batch 3 reach Qdrant, then the process "dies" before the write-back.
        if (upserts === 3) throw new Error("killed after the Qdrant write");
      },
    };
    await expect(
      migratePgvector(
        { pool: fixture.pool, vectors: failing, logger },
        { dimensions: DIMENSIONS, batchSize: 20, upsertBatchSize: 20 },
      ),
    ).rejects.toThrow(/killed/);
    expect(await moved(fixture.pool)).toBe(40);
    expect(await allPoints(fixture.vectors)).toBe(60);

    const resumed = await migratePgvector(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { dimensions: DIMENSIONS, batchSize: 20 },
    );
    expect(resumed).toMatchObject({ resumed: true, completed: true, migrated: 80, scanned: 80 });
    expect(await allPoints(fixture.vectors)).toBe(120);
    const verify = await verifyPgvectorMigration(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { dimensions: DIMENSIONS, sampleSize: 10 },
    );
    expect(verify.passed).toBe(true);
    expect(openai.requests).toEqual([]);
  });
});

describe("migrate-pgvector: halfvec(3072)", () => {
  const catalogs = [randomUUID(), randomUUID()];
  const rows = seedRows(100, { seed: 23, catalogs, nullEvery: 50 });
  const usable = rows.filter((row) => row.vector !== null);
  let fixture: Fixture;

  beforeAll(async () => {
    openai.reset();
    fixture = await createFixture(qdrant, "halfvec", rows);
    // An approximate index, as installations had: verify must not let it answer for pgvector.
    await fixture.pool.query(
      sql.type(
        NO_ROWS,
      )`CREATE INDEX dq_embeddings_embedding_hnsw ON dq_embeddings USING hnsw (embedding halfvec_cosine_ops)`,
    );
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it("widens halfvec to float32, verifies, cuts over and rolls back to halfvec", async () => {
    const dry = await dryRunPgvector({ pool: fixture.pool, logger }, { dimensions: DIMENSIONS });
    expect(dry).toMatchObject({ columnType: "halfvec(3072)", toMigrate: usable.length });
    expect(dry.unusable.nullVector).toBe(2);

    const report = await migratePgvector(
      { pool: fixture.pool, vectors: fixture.vectors, logger, embedder: embedder() },
      { dimensions: DIMENSIONS, batchSize: 30, reembedMissing: true },
    );
    // The HNSW index on the column: qdrant_point_id waits for the cutover, which drops it first.
    expect(report).toMatchObject({
      migrated: usable.length,
      reembedded: 2,
      completed: true,
      pointIdsDeferred: true,
      pointIdsWritten: 0,
      vectorIndexes: ["dq_embeddings_embedding_hnsw"],
    });
    expect(openai.requests.flatMap((request) => request.input).sort()).toEqual(
      rows
        .filter((row) => row.vector === null)
        .map((row) => row.content)
        .sort(),
    );

    // Each float32 in Qdrant is the half value pgvector held (rounded from the seed), not the seed itself.
    const [point] = await fixture.vectors.get([usable[0].id], { withVector: true });
    const halfRounded = Float32Array.from(usable[0].vector!, (value) => Math.fround(value));
    expect(normalizedMaxDifference(point.vector!, halfRounded)).toBeLessThan(1e-3);

    const verify = await verifyPgvectorMigration(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { dimensions: DIMENSIONS, sampleSize: 10 },
    );
    expect(verify.failures).toEqual([]);
    expect(verify.rows.maxDifference).toBeLessThan(1e-6);

    const cutover = await cutoverPgvector({ pool: fixture.pool, databaseUrl: fixture.database.url, logger });
    expect(cutover).toMatchObject({ droppedIndexes: ["dq_embeddings_embedding_hnsw"], pointIdsWritten: rows.length });
    const rollback = await rollbackPgvector({
      pool: fixture.pool,
      databaseUrl: fixture.database.url,
      logger,
      vectors: fixture.vectors,
    });
    expect(rollback).toMatchObject({
      columnType: "halfvec(3072)",
      restored: usable.length,
      restoredNull: 2,
      indexes: ["dq_embeddings_embedding_hnsw"],
      recreatedIndexes: ["dq_embeddings_embedding_hnsw"],
    });
    const type = await fixture.pool.oneFirst(
      sql.type(
        z.object({ type: z.string() }),
      )`SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'dq_embeddings'::regclass AND attname = 'embedding'`,
    );
    expect(type).toBe("halfvec(3072)");
  });

  it("--table migrates and verifies another table of the service's shape; cutover stays with dq_embeddings", async () => {
    await fixture.pool.query(sql.type(NO_ROWS)`CREATE TABLE legacy_half (LIKE dq_embeddings INCLUDING DEFAULTS)`);
    await fixture.pool.query(sql.type(NO_ROWS)`INSERT INTO legacy_half SELECT * FROM dq_embeddings`);
    await fixture.pool.query(sql.type(NO_ROWS)`UPDATE legacy_half SET id = gen_random_uuid(), qdrant_point_id = NULL`);
    const client = new QdrantClient({
      host: qdrant.host,
      port: qdrant.port,
      compression: false,
      checkCompatibility: false,
    });
    const vectors = createQdrantVectorStore({
      client,
      collectionName: `pgvector_${randomUUID().slice(0, 8)}`,
      dimensions: DIMENSIONS,
      model: MODEL,
      logger,
    });
    await vectors.start();

    // The rollback left the two rows without a source vector NULL: --skip-missing leaves them out.
    const report = await migratePgvector(
      { pool: fixture.pool, vectors, logger },
      { table: "legacy_half", dimensions: DIMENSIONS, skipMissing: true },
    );
    expect(report).toMatchObject({
      table: "legacy_half",
      columnType: "halfvec(3072)",
      migrated: usable.length,
      completed: true,
      pointIdsWritten: usable.length,
    });
    expect(report.skipped.nullVector).toBe(2);
    const verify = await verifyPgvectorMigration(
      { pool: fixture.pool, vectors, logger },
      { table: "legacy_half", dimensions: DIMENSIONS, sampleSize: 5 },
    );
    expect(verify.failures).toEqual([]);
    expect(verify.rows.excluded).toBe(2);
    await expect(
      cutoverPgvector({ pool: fixture.pool, databaseUrl: fixture.database.url, logger }, { table: "legacy_half" }),
    ).rejects.toThrow(/applies to dq_embeddings/);
    await expect(
      migratePgvector(
        { pool: fixture.pool, vectors, logger },
        { table: "legacy_half; DROP TABLE x", dimensions: DIMENSIONS },
      ),
    ).rejects.toThrow(/plain SQL name/);
  });
});

describe("migrate-pgvector: unconstrained vector column with another dimension", () => {
  const catalogs = [randomUUID()];
  // Every 10th row holds a 1536-dimensional vector (an older model).
  const rows = seedRows(60, { seed: 31, catalogs, shortEvery: 10 });
  const short = rows.filter((row) => row.vector !== null && row.vector.length !== DIMENSIONS);
  let fixture: Fixture;

  beforeAll(async () => {
    openai.reset();
    fixture = await createFixture(qdrant, "unconstrained", rows);
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it("reports wrong-dimension vectors, leaves them for re-embedding, and never drops them silently", async () => {
    expect(short).toHaveLength(6);
    const dry = await dryRunPgvector({ pool: fixture.pool, logger }, { dimensions: DIMENSIONS });
    expect(dry.dimensionsFound).toEqual([
      { dimensions: 1536, rows: 6 },
      { dimensions: DIMENSIONS, rows: 54 },
    ]);
    expect(dry.unusable.wrongDimension).toBe(6);

    const report = await migratePgvector(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { dimensions: DIMENSIONS },
    );
    expect(report.migrated).toBe(54);
    expect(report.unusable.rows.map((row) => [row.id, row.reason, row.dimensions]).sort()).toEqual(
      short.map((row) => [row.id, "wrong_dimension", 1536]).sort(),
    );
    expect(openai.requests).toEqual([]);
    const ids = await pointIds(fixture.pool);
    for (const row of short) expect(ids.get(row.id)).toBeNull();

    const reembedded = await migratePgvector(
      { pool: fixture.pool, vectors: fixture.vectors, logger, embedder: embedder() },
      { dimensions: DIMENSIONS, reembedMissing: true },
    );
    expect(reembedded.reembedded).toBe(6);
    expect(openai.requests.flatMap((request) => request.input).sort()).toEqual(short.map((row) => row.content).sort());
    const verify = await verifyPgvectorMigration(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { dimensions: DIMENSIONS, sampleSize: 10 },
    );
    expect(verify.failures).toEqual([]);
  });
});

describe("migrate-pgvector: the command", () => {
  const rows = seedRows(50, { seed: 41, catalogs: [randomUUID(), randomUUID()] });
  let fixture: Fixture;
  let dir: string;
  const collection = `pgvector_cli_${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    openai.reset();
    fixture = await createFixture(qdrant, "vector", rows);
    dir = await mkdtemp(join(tmpdir(), "migrate-pgvector-"));
  });
  afterAll(async () => {
    await fixture?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const env = () => ({
    DATABASE_URL: fixture.database.url,
    POSTGRES_POOL_SIZE: "1",
    QDRANT_URL: `http://${qdrant.host}:${qdrant.port}`,
    QDRANT_COLLECTION_NAME: collection,
    OPENAI_API_KEY: "test-key",
    OPENAI_BASE_URL: openaiBaseURL,
    LOG_LEVEL: "warn",
  });
  const run = (...args: string[]) => runCommand(env(), args);

  it("runs dry-run, migrate, verify (JSON report), cutover and rollback from the configuration", async () => {
    expect((await run("--help")).stdout).toContain("--reembed-missing");
    expect((await run("--verify", "--cutover")).code).toBe(2);

    const dry = await run("--dry-run");
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("to carry over: 50");

    const refused = await run("--cutover");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/no passing verification/);

    const migrate = await run("--batch-size", "20");
    expect(migrate.code).toBe(0);
    expect(migrate.stdout).toContain("carried over: 50 vector(s) in 3 batch(es)");

    const reportPath = join(dir, "verify.json");
    const verify = await run("--verify", "--sample", "5", "--report", reportPath);
    expect(verify.stdout).toContain("PASSED");
    expect(verify.code).toBe(0);
    const report = JSON.parse(await readFile(reportPath, "utf8")) as { passed: boolean; rows: { total: number } };
    expect(report).toMatchObject({ passed: true, rows: { total: 50 } });

    const cutover = await run("--cutover");
    expect(cutover.code).toBe(0);
    expect(cutover.stdout).toContain("qdrant_point_id written for 0 row(s)");
    const rollback = await run("--rollback");
    expect(rollback.code).toBe(0);
    expect(rollback.stdout).toContain("restored 50 vector(s)");
    expect(openai.requests).toEqual([]);
  });

  it("--reembed-missing without OPENAI_API_KEY fails with one line naming OPENAI_API_KEY and EMBEDDING_MODEL", async () => {
    const { OPENAI_API_KEY: _key, ...withoutKey } = env();
    const result = await runCommand(withoutKey, ["--reembed-missing"]);
    expect(result.code).toBe(1);
    const lines = result.stderr
      .trim()
      .split("\n")
      .filter((line) => line.startsWith("migrate-pgvector failed"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /--reembed-missing would embed with local-\S+ into a collection of text-embedding-3-large vectors: set OPENAI_API_KEY and EMBEDDING_MODEL=text-embedding-3-large/,
    );
    expect(openai.requests).toEqual([]);
    expect((await run("--reembed-missing", "--skip-missing")).code).toBe(2);
  });

  it("reads a libpq Unix-socket style --database-url, and refuses an unreadable one naming the flag", async () => {
    const bad = await run("--dry-run", "--database-url", "mysql://x@y/z");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--database-url must start with postgres://");
  });
});

describe("migrate-pgvector: the command killed mid-run", () => {
  const rows = seedRows(400, { seed: 53, catalogs: [randomUUID(), randomUUID()] });
  let fixture: Fixture;
  const collection = `pgvector_kill_${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    openai.reset();
    fixture = await createFixture(qdrant, "vector", rows);
  });
  afterAll(async () => {
    await fixture?.close();
  });

  function env() {
    return {
      PATH: process.env.PATH,
      DATABASE_URL: fixture.database.url,
      POSTGRES_POOL_SIZE: "1",
      QDRANT_URL: `http://${qdrant.host}:${qdrant.port}`,
      QDRANT_COLLECTION_NAME: collection,
      OPENAI_API_KEY: "test-key",
      OPENAI_BASE_URL: openaiBaseURL,
      LOG_LEVEL: "warn",
    };
  }

  // The run records progress in its side table (qdrant_point_id is written at the end of the pass).
  const migratedCount = async () =>
    fixture.pool.oneFirst(
      sql.type(z.object({ count: z.number() }))`SELECT count(*)::int AS count FROM dq_pgvector_moved`,
    );

  it("resumes from the checkpoint after SIGKILL and ends with every vector carried over", async () => {
    // One row per batch: the run takes long enough to be killed half-way.
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/migrate-pgvector.ts", "--batch-size", "1"], {
      env: env(),
      stdio: "ignore",
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once("exit", (_code, signal) => resolve(signal)),
    );
    let atKill = 0;
    while (atKill === 0) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      atKill = await migratedCount();
    }
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    const afterKill = await migratedCount();
    expect(afterKill).toBeGreaterThan(0);
    expect(afterKill).toBeLessThan(rows.length);

    // The resume needs no process of its own: the same command, in this one, reads the checkpoint.
    const { code, stdout } = await runCommand(env(), []);
    expect(code).toBe(0);
    expect(stdout).toContain("resumed after");
    expect(stdout).toContain(`carried over: ${rows.length - afterKill} vector(s)`);
    expect(await migratedCount()).toBe(rows.length);
    expect([...(await pointIds(fixture.pool)).values()].every((id) => id !== null)).toBe(true);
    const client = new QdrantClient({
      host: qdrant.host,
      port: qdrant.port,
      compression: false,
      checkCompatibility: false,
    });
    const count = await client.api("points").count({ collectionName: collection, exact: true });
    expect(Number(count.result?.count)).toBe(rows.length);
    expect(openai.requests).toEqual([]);
  });
});

/** Old rows as a real installation has them: json metadata, some null, some not an object. */
async function oldMetadata(pool: DatabasePool, rows: SeedRow[]): Promise<void> {
  await pool.query(sql.type(NO_ROWS)`UPDATE dq_embeddings SET metadata = NULL WHERE id = ${rows[0].id}::uuid`);
  await pool.query(sql.type(NO_ROWS)`UPDATE dq_embeddings SET metadata = '[1,2]'::json WHERE id = ${rows[1].id}::uuid`);
  await pool.query(sql.type(NO_ROWS)`UPDATE dq_embeddings SET metadata = 'null'::json WHERE id = ${rows[2].id}::uuid`);
}

/** The indexes an installation searching pgvector had: HNSW on an expression, and a partial index. */
async function installationIndexes(pool: DatabasePool): Promise<void> {
  await pool.query(sql.type(NO_ROWS)`
    CREATE INDEX dq_embeddings_embedding_hnsw ON dq_embeddings USING hnsw ((embedding::halfvec(3072)) halfvec_cosine_ops)
  `);
  await pool.query(
    sql.type(NO_ROWS)`CREATE INDEX dq_embeddings_with_vector ON dq_embeddings (catalog_id) WHERE embedding IS NOT NULL`,
  );
}

const indexNames = async (pool: DatabasePool) => [
  ...(await pool.anyFirst(sql.type(z.object({ name: z.string() }))`
    SELECT indexname AS name FROM pg_indexes WHERE tablename = 'dq_embeddings' AND indexname IN ('dq_embeddings_embedding_hnsw', 'dq_embeddings_with_vector') ORDER BY 1
  `)),
];

describe("migrate-pgvector: the schema phase of an old table under an HNSW expression index", () => {
  const catalogs = [randomUUID(), randomUUID()];
  const rows = seedRows(60, { seed: 61, catalogs, nullEvery: 20 });
  const usable = rows.filter((row) => row.vector !== null);
  const nulls = rows.filter((row) => row.vector === null);
  let fixture: Fixture;

  beforeAll(async () => {
    openai.reset();
    fixture = await createFixture(qdrant, "vector", rows, { schemaMigrated: false });
    await oldMetadata(fixture.pool, rows);
    await installationIndexes(fixture.pool);
  });
  afterAll(async () => {
    await fixture?.close();
  });

  const metadataType = () =>
    fixture.pool.oneFirst(
      sql.type(
        z.object({ type: z.string() }),
      )`SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'dq_embeddings'::regclass AND attname = 'metadata' AND NOT attisdropped`,
    );

  it("the command stops at a batch boundary when interrupted (exit 130), before touching the rows", async () => {
    const controller = new AbortController();
    controller.abort();
    const result = await runCommand(
      { DATABASE_URL: fixture.database.url, POSTGRES_POOL_SIZE: "1", LOG_LEVEL: "warn" },
      [],
      controller.signal,
    );
    expect(result.code).toBe(130);
    expect(result.stdout).toContain("INTERRUPTED in the schema phase after 0 row(s)");
    expect(await metadataType()).toBe("json");
  });

  it("writes the rows in batches, stops at the next boundary when asked, and resumes", async () => {
    const controller = new AbortController();
    const batches: number[] = [];
    const first = await prepareOldSchema(
      { pool: fixture.pool, logger },
      {
        batchSize: 10,
        signal: controller.signal,
        onBatch: ({ index, rows: written }) => {
          batches.push(written);
          if (index === 2) controller.abort();
        },
      },
    );
    expect(first).toMatchObject({ needed: true, interrupted: true, batches: 2, convertedMetadata: false });
    // One row per heap page per batch: never more rows than pages.
    const pages = await fixture.pool.oneFirst(sql.type(z.object({ pages: z.number() }))`
      SELECT (pg_relation_size('dq_embeddings') / current_setting('block_size')::int)::int AS pages
    `);
    for (const written of batches) expect(written).toBeLessThanOrEqual(pages);
    expect(first.rowsWritten).toBe(batches[0] + batches[1]);
    // Columns came without a table rewrite; the jsonb copy is partly filled, the json column still there.
    expect(await metadataType()).toBe("json");
    const hashed = await fixture.pool.oneFirst(
      sql.type(z.object({ count: z.number() }))`SELECT count(content_hash)::int AS count FROM dq_embeddings`,
    );
    expect(hashed).toBe(first.rowsWritten);
    expect(hashed).toBeLessThan(rows.length);

    const second = await prepareOldSchema({ pool: fixture.pool, logger }, { batchSize: 10 });
    expect(second).toMatchObject({ interrupted: false, convertedMetadata: true });
    expect(first.rowsWritten + second.rowsWritten).toBe(rows.length);
    expect(await metadataType()).toBe("jsonb");
    const stored = await fixture.pool.any(sql.type(
      z.object({
        id: z.string(),
        metadata: z.unknown(),
        contentHash: z.string(),
        model: z.string(),
        status: z.string(),
      }),
    )`
      SELECT id, metadata, content_hash AS "contentHash", model, status FROM dq_embeddings
    `);
    const byId = new Map(stored.map((row) => [row.id, row]));
    for (const row of rows) {
      expect(byId.get(row.id)).toMatchObject({
        contentHash: contentHash(row.content),
        model: MODEL,
        status: "pending",
      });
    }
    expect(byId.get(rows[0].id)?.metadata).toEqual({});
    expect(byId.get(rows[1].id)?.metadata).toEqual({ legacy_value: [1, 2] });
    expect(byId.get(rows[2].id)?.metadata).toEqual({});
    expect(byId.get(rows[3].id)?.metadata).toEqual({ source: "old" });
    // Nothing is left for the service's migration to rewrite; the indexes are untouched.
    await runMigrations({ databaseUrl: fixture.database.url, logger });
    expect(await indexNames(fixture.pool)).toEqual(["dq_embeddings_embedding_hnsw", "dq_embeddings_with_vector"]);
    expect((await prepareOldSchema({ pool: fixture.pool, logger })).needed).toBe(false);
  });

  it("--skip-missing, verify, cutover and rollback: every index that used the column comes back, and NULL where there was none", async () => {
    const report = await migratePgvector(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { dimensions: DIMENSIONS, batchSize: 25, skipMissing: true },
    );
    expect(report).toMatchObject({ migrated: usable.length, pointIdsDeferred: true, pointIdsWritten: 0 });
    expect(report.vectorIndexes).toEqual(["dq_embeddings_embedding_hnsw", "dq_embeddings_with_vector"]);
    expect(report.skipped.rows.map((row) => row.id).sort()).toEqual(nulls.map((row) => row.id).sort());
    expect(report.unusable.nullVector).toBe(0);
    expect([...(await pointIds(fixture.pool)).values()].every((id) => id === null)).toBe(true);

    const verify = await verifyPgvectorMigration(
      { pool: fixture.pool, vectors: fixture.vectors, logger },
      { dimensions: DIMENSIONS, sampleSize: 5 },
    );
    expect(verify.failures).toEqual([]);
    expect(verify.rows.excludedIds.sort()).toEqual(nulls.map((row) => row.id).sort());

    const cutover = await cutoverPgvector({ pool: fixture.pool, databaseUrl: fixture.database.url, logger });
    expect(cutover).toMatchObject({
      droppedIndexes: ["dq_embeddings_embedding_hnsw", "dq_embeddings_with_vector"],
      pointIdsWritten: usable.length,
    });
    const ids = await pointIds(fixture.pool);
    for (const row of usable) expect(ids.get(row.id)).toBe(row.id);
    for (const row of nulls) expect(ids.get(row.id)).toBeNull();
    expect(await indexNames(fixture.pool)).toEqual([]);

    const rollback = await rollbackPgvector({
      pool: fixture.pool,
      databaseUrl: fixture.database.url,
      logger,
      vectors: fixture.vectors,
    });
    expect(rollback).toMatchObject({ restored: usable.length, restoredNull: nulls.length, missingPoints: 0 });
    expect(rollback.recreatedIndexes).toEqual(["dq_embeddings_embedding_hnsw", "dq_embeddings_with_vector"]);
    const definitions = await fixture.pool.anyFirst(sql.type(z.object({ definition: z.string() }))`
      SELECT indexdef AS definition FROM pg_indexes WHERE tablename = 'dq_embeddings' AND indexname IN ('dq_embeddings_embedding_hnsw', 'dq_embeddings_with_vector') ORDER BY indexname
    `);
    expect(definitions[0]).toContain("halfvec_cosine_ops");
    expect(definitions[0]).toContain("(embedding)::halfvec(3072)");
    expect(definitions[1]).toContain("WHERE (embedding IS NOT NULL)");
    const nullCount = await fixture.pool.oneFirst(
      sql.type(
        z.object({ count: z.number() }),
      )`SELECT count(*)::int AS count FROM dq_embeddings WHERE embedding IS NULL`,
    );
    expect(nullCount).toBe(nulls.length);
    expect(openai.requests).toEqual([]);
  });
});

// The real Postgres with pgvector built from source (.ci/run): the extension belongs to a superuser,
// the tests run as the application role, as on a real installation.
const realTarget = testDatabaseTarget();
const realAdminUrl = realTarget.kind === "postgres" ? realTarget.adminUrl : undefined;
const realPgvector = realAdminUrl !== undefined && (await hasPgvectorTemplate(realAdminUrl));

describe.skipIf(!realPgvector)("migrate-pgvector: a real Postgres with pgvector, as the application role", () => {
  const catalogs = [randomUUID(), randomUUID()];
  const rows = seedRows(80, { seed: 71, catalogs, nullEvery: 16 });
  const usable = rows.filter((row) => row.vector !== null);
  const nulls = rows.filter((row) => row.vector === null);
  const name = randomDatabaseName("dq_pgvector");
  const collection = `pgvector_real_${randomUUID().slice(0, 8)}`;
  let url: string;
  let pool: DatabasePool;

  beforeAll(async () => {
    openai.reset();
    await createDatabase(realAdminUrl!, name, PGVECTOR_TEMPLATE);
    url = databaseUrl(realAdminUrl!, name);
    pool = await createPostgresPool({ url, maximumPoolSize: 2, logger });
    await pool.query(sql.type(NO_ROWS)`
      CREATE TABLE dq_embeddings (id uuid, content text, embedding vector(3072), kind varchar, catalog_id uuid, metadata json)
    `);
    for (let start = 0; start < rows.length; start += 40) {
      const chunk = rows.slice(start, start + 40);
      await pool.query(sql.type(NO_ROWS)`
        INSERT INTO dq_embeddings (id, content, embedding, kind, catalog_id, metadata)
        SELECT * FROM unnest(
          ${sql.array(
            chunk.map((row) => row.id),
            "uuid",
          )},
          ${sql.array(
            chunk.map((row) => row.content),
            "text",
          )},
          ${sql.array(
            chunk.map((row) => literal(row.vector)),
            "text",
          )}::vector[],
          ${sql.array(
            chunk.map((row) => row.kind),
            "text",
          )},
          ${sql.array(
            chunk.map((row) => row.catalogId),
            "uuid",
          )},
          ${sql.array(
            chunk.map(() => '{"source":"old"}'),
            "text",
          )}::json[]
        )
      `);
    }
    await oldMetadata(pool, rows);
    await installationIndexes(pool);
  });
  afterAll(async () => {
    await pool?.end();
    if (realAdminUrl !== undefined) await dropDatabase(realAdminUrl, name);
  });

  const env = () => ({
    DATABASE_URL: url,
    QDRANT_URL: `http://${qdrant.host}:${qdrant.port}`,
    QDRANT_COLLECTION_NAME: collection,
    OPENAI_API_KEY: "test-key",
    OPENAI_BASE_URL: openaiBaseURL,
    LOG_LEVEL: "warn",
  });

  it("moves, verifies, cuts over (the extension stays with its owner) and rolls back with every index", async () => {
    const migrate = await runCommand(env(), ["--skip-missing", "--batch-size", "30"]);
    expect(migrate.stderr).toBe("");
    expect(migrate.code).toBe(0);
    expect(migrate.stdout).toContain("schema phase: 80 row(s) prepared");
    expect(migrate.stdout).toContain(`carried over: ${usable.length} vector(s)`);
    expect(migrate.stdout).toContain(
      "qdrant_point_id: left to --cutover (dq_embeddings_embedding_hnsw, dq_embeddings_with_vector",
    );
    expect(migrate.stdout).toContain(
      `rows excluded by --skip-missing (no point; --reembed-missing can still embed them): ${nulls.length}`,
    );
    for (const row of nulls) expect(migrate.stdout).toContain(row.id);
    expect(await moved(pool)).toBe(usable.length);

    const verify = await runCommand(env(), [
      "--verify",
      "--sample",
      "5",
      "--report",
      join(tmpdir(), `${collection}.json`),
    ]);
    expect(verify.stdout).toContain("PASSED");
    expect(verify.stdout).toContain("every point must be made by text-embedding-3-large; points made by another: 0");

    const cutover = await runCommand(env(), ["--cutover"]);
    expect(cutover.code).toBe(0);
    expect(cutover.stdout).toContain(`qdrant_point_id written for ${usable.length} row(s) in one statement`);
    // pgvector is not a trusted extension: a superuser created it, and only its owner may drop it.
    expect(cutover.stdout).toMatch(
      /kept the vector extension: it belongs to \S+, not \S+: that role may DROP EXTENSION vector/,
    );
    expect(await indexNames(pool)).toEqual([]);

    const rollback = await runCommand(env(), ["--rollback"]);
    expect(rollback.code).toBe(0);
    expect(rollback.stdout).toContain(`restored ${usable.length} vector(s)`);
    expect(rollback.stdout).toContain("re-created: dq_embeddings_embedding_hnsw, dq_embeddings_with_vector");
    expect(await indexNames(pool)).toEqual(["dq_embeddings_embedding_hnsw", "dq_embeddings_with_vector"]);
    const nullIds = await pool.anyFirst(
      sql.type(z.object({ id: z.string() }))`SELECT id FROM dq_embeddings WHERE embedding IS NULL ORDER BY id`,
    );
    expect([...nullIds]).toEqual(nulls.map((row) => row.id).sort());
    // The HNSW index answers again: the nearest row to a row's own vector is that row.
    const probe = usable[3];
    const nearest = await pool.oneFirst(sql.type(z.object({ id: z.string() }))`
      SELECT id FROM dq_embeddings
      ORDER BY embedding::halfvec(3072) <=> (SELECT embedding::halfvec(3072) FROM dq_embeddings WHERE id = ${probe.id}::uuid) LIMIT 1
    `);
    expect(nearest).toBe(probe.id);
    expect(openai.requests).toEqual([]);
  });
});

// A Unix-socket URL as libpq writes it. It needs a role the server lets in over the socket (peer
// authentication maps the OS user to a role of the same name; .ci/run creates it).
const socketUrl =
  process.env.DQ_TEST_SOCKET_URL ?? `postgres://${process.env.USER ?? "root"}@/postgres?host=/var/run/postgresql`;
const socketReachable = await (async () => {
  try {
    const probe = new (await import("pg")).default.Client({
      connectionString: socketUrl,
      connectionTimeoutMillis: 2_000,
    });
    await probe.connect();
    await probe.end();
    return true;
  } catch {
    return false;
  }
})();

describe("migrate-pgvector: Unix-socket URLs", () => {
  it.runIf(socketReachable)(
    "reads DATABASE_URL=postgres://user@/db?host=/dir: the pool, the migrations and the command connect over the socket",
    async () => {
      const name = randomDatabaseName("dq_socket");
      await createDatabase(socketUrl, name, "template0");
      const url = databaseUrl(socketUrl, name);
      try {
        const raw = url.replace(
          /^postgres:\/\/([^@]*)@%2F[^/]*\/(.*)$/,
          (_all, user: string, database: string) => `postgres://${user}@/${database}?host=/var/run/postgresql`,
        );
        const { loadConfig } = await import("../../src/config.js");
        const configured = loadConfig({ DATABASE_URL: raw }).postgres.url!;
        const pool = await createPostgresPool({ url: configured, maximumPoolSize: 1, logger });
        try {
          expect(await pool.oneFirst(sql.type(z.object({ db: z.string() }))`SELECT current_database() AS db`)).toBe(
            name,
          );
          expect(await runMigrations({ databaseUrl: configured, logger })).not.toHaveLength(0);
        } finally {
          await pool.end();
        }
        // The command: a database without the old table says so, after connecting over the socket.
        const result = await runCommand({ DATABASE_URL: raw, LOG_LEVEL: "warn" }, ["--dry-run"]);
        expect(result.stderr).toContain("has no column");
      } finally {
        await dropDatabase(socketUrl, name);
      }
    },
  );
});
