/**
 * issue 7: an installation in the old shape (pgvector column in dq_embeddings) moves to Qdrant without
 * re-embedding. Source: PGlite with its pgvector extension; target: the embedded Qdrant over gRPC;
 * embedder: the real OpenAI SDK against the fake server, whose recorded requests prove what was embedded.
 */
import { execFile, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { QdrantClient } from "@qdrant/js-client-grpc";
import { pino } from "pino";
import { sql, type DatabasePool, type FragmentSqlToken } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { contentHash } from "../../src/core/hash.js";
import { createEmbeddedQdrant, type EmbeddedQdrant } from "../../src/embedded/qdrant/index.js";
import { createOpenAIEmbedder } from "../../src/embedders/openai-embedder.js";
import { cutoverPgvector, rollbackPgvector } from "../../src/pgvector/cutover.js";
import { dryRunPgvector } from "../../src/pgvector/dry-run.js";
import { migratePgvector, type MigrateOptions } from "../../src/pgvector/migrate.js";
import { verifyPgvectorMigration } from "../../src/pgvector/verify.js";
import { normalizedMaxDifference } from "../../src/pgvector/vector-math.js";
import { runMigrations } from "../../src/stores/migrations.js";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";
import { createQdrantVectorStore } from "../../src/stores/qdrant-vector-store.js";
import type { VectorStore } from "../../src/stores/vector-store.js";
import { createFakeOpenAIServer } from "../helpers/fake-openai-server.js";
import { createPgliteTestDatabase, type TestDatabase } from "../helpers/test-database.js";

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

function literal(vector: Float32Array | null): string | null {
  return vector === null ? null : `[${Array.from(vector).join(",")}]`;
}

function seedRows(count: number, options: { seed: number; catalogs: string[]; nullEvery?: number; shortEvery?: number }): SeedRow[] {
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
        ${sql.array(chunk.map((row) => row.id), "uuid")},
        ${sql.array(chunk.map((row) => row.content), "text")},
        ${sql.array(chunk.map((row) => literal(row.vector)), "text")}::${cast},
        ${sql.array(chunk.map((row) => row.kind), "text")},
        ${sql.array(chunk.map((row) => row.catalogId), "uuid")},
        ${sql.array(chunk.map(() => '{"source":"old"}'), "text")}::json[]
      )
    `);
  }
  // The first migration brings the old table to the service's shape (and adds the checkpoint table).
  if (options.schemaMigrated ?? true) {
    await runMigrations({ databaseUrl: database.url, logger });
  }
  const client = new QdrantClient({ host: qdrant.host, port: qdrant.port, compression: false, checkCompatibility: false });
  const vectors = createQdrantVectorStore({ client, collectionName: `pgvector_${randomUUID().slice(0, 8)}`, dimensions: DIMENSIONS, model: MODEL, logger });
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
  const rows = await pool.any(sql.type(pointIdsSchema)`SELECT id, qdrant_point_id AS "qdrantPointId" FROM dq_embeddings`);
  return new Map(rows.map((row) => [row.id, row.qdrantPointId]));
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
  return createOpenAIEmbedder({ apiKey: "test-key", baseURL: openaiBaseURL, model: MODEL, dimensions: DIMENSIONS, maxRetries: 0, logger });
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
      dimensionsFound: [{ dimensions: DIMENSIONS, rows: usable.length }, { dimensions: null, rows: nulls.length }],
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
    expect(first).toMatchObject({ interrupted: true, completed: false, batches: 2, scanned: 100 });
    const afterFirst = await pointIds(fixture.pool);
    const done = [...afterFirst.values()].filter((id) => id !== null).length;
    expect(done).toBe(first.migrated);
    expect(await allPoints(fixture.vectors)).toBe(first.migrated);

    const second = await migratePgvector({ pool: fixture.pool, vectors: fixture.vectors, logger }, options);
    expect(second.resumed).toBe(true);
    expect(second.resumedAfterId).not.toBeNull();
    expect(second.completed).toBe(true);
    // Nothing was read twice: the two runs together scanned each row once.
    expect(first.scanned + second.scanned).toBe(240);
    expect(first.migrated + second.migrated).toBe(usable.length);
    const ids = await pointIds(fixture.pool);
    for (const row of usable) expect(ids.get(row.id)).toBe(row.id);
    for (const row of nulls) expect(ids.get(row.id)).toBeNull();
    expect(second.unusable.nullVector).toBe(nulls.length);
    expect(second.unusable.rows.map((row) => row.reason)).toEqual(nulls.map(() => "null_vector"));
    expect(await allPoints(fixture.vectors)).toBe(usable.length);
  });

  it("carries every vector and the service's payload over, with no embedding call", async () => {
    const points = await fixture.vectors.get(usable.map((row) => row.id), { withVector: true });
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
    const report = await verifyPgvectorMigration({ pool: fixture.pool, vectors: fixture.vectors, logger }, { dimensions: DIMENSIONS, sampleSize: 10 });
    expect(report.passed).toBe(false);
    expect(report.rows.missingPoints).toBe(nulls.length);
    expect(report.failures.join(" ")).toContain("--reembed-missing");
    expect(report.neighbours.meanRecall).toBeGreaterThanOrEqual(0.99);
    await expect(cutoverPgvector({ pool: fixture.pool, databaseUrl: fixture.database.url, logger })).rejects.toThrow(/verification/);
  });

  it("--reembed-missing embeds exactly the rows without a vector", async () => {
    openai.reset();
    const report = await migratePgvector({ pool: fixture.pool, vectors: fixture.vectors, logger, embedder: embedder() }, { ...options, reembedMissing: true });
    expect(report.reembedded).toBe(nulls.length);
    expect(report.migrated).toBe(0);
    expect(report.unusable.nullVector).toBe(0);
    const sent = openai.requests.flatMap((request) => request.input);
    expect(sent.sort()).toEqual(nulls.map((row) => row.content).sort());
    const points = await fixture.vectors.get(nulls.map((row) => row.id));
    expect(points.map((point) => point.payload.model)).toEqual(nulls.map(() => MODEL));
    expect(await allPoints(fixture.vectors)).toBe(rows.length);
    openai.reset();
  });

  it("verify passes, and fails when one point is corrupted", async () => {
    const passing = await verifyPgvectorMigration({ pool: fixture.pool, vectors: fixture.vectors, logger }, { dimensions: DIMENSIONS, sampleSize: 20 });
    expect(passing.failures).toEqual([]);
    expect(passing.passed).toBe(true);
    expect(passing.rows).toMatchObject({ total: 240, missingPoints: 0, payloadMismatches: 0, vectorMismatches: 0, vectorsCompared: usable.length });
    expect(passing.catalogs.mismatched).toEqual([]);
    expect(passing.neighbours.samples).toBe(20);
    expect(passing.neighbours.meanRecall).toBeGreaterThanOrEqual(0.99);

    const victim = usable[5];
    const [stored] = await fixture.vectors.get([victim.id]);
    const next = random(99);
    await fixture.vectors.upsert([{ id: victim.id, vector: randomVector(next, DIMENSIONS), payload: stored.payload }]);
    const failing = await verifyPgvectorMigration({ pool: fixture.pool, vectors: fixture.vectors, logger }, { dimensions: DIMENSIONS, sampleSize: 20 });
    expect(failing.passed).toBe(false);
    expect(failing.rows.vectorMismatchIds).toEqual([victim.id]);
    await expect(cutoverPgvector({ pool: fixture.pool, databaseUrl: fixture.database.url, logger })).rejects.toThrow(/failed/);

    // A lost point: counted per catalog and listed.
    await fixture.vectors.delete([victim.id]);
    const lost = await verifyPgvectorMigration({ pool: fixture.pool, vectors: fixture.vectors, logger }, { dimensions: DIMENSIONS, sampleSize: 5 });
    expect(lost.passed).toBe(false);
    expect(lost.rows.missingPointIds).toEqual([victim.id]);
    expect(lost.catalogs.mismatched).toEqual([{ catalogId: victim.catalogId, rows: 80, points: 79 }]);

    // A payload that is not the service's.
    await fixture.vectors.upsert([{ id: victim.id, vector: victim.vector!, payload: { ...stored.payload, kind: "view" } }]);
    const payload = await verifyPgvectorMigration({ pool: fixture.pool, vectors: fixture.vectors, logger }, { dimensions: DIMENSIONS, sampleSize: 5 });
    expect(payload.passed).toBe(false);
    expect(payload.rows.payloadMismatchIds).toEqual([victim.id]);
    expect(payload.rows.vectorMismatches).toBe(0);

    // Repaired, it passes again.
    await fixture.vectors.upsert([{ id: victim.id, vector: victim.vector!, payload: stored.payload }]);
    const repaired = await verifyPgvectorMigration({ pool: fixture.pool, vectors: fixture.vectors, logger }, { dimensions: DIMENSIONS, sampleSize: 20 });
    expect(repaired.passed).toBe(true);
  });

  it("cutover drops the column and the extension; rollback brings both and every vector back", async () => {
    // A run that writes nothing keeps the verification valid.
    expect((await migratePgvector({ pool: fixture.pool, vectors: fixture.vectors, logger }, options)).migrated).toBe(0);
    const cutover = await cutoverPgvector({ pool: fixture.pool, databaseUrl: fixture.database.url, logger });
    expect(cutover).toMatchObject({ droppedColumnType: "vector(3072)", extensionDropped: true });
    const columns = await fixture.pool.anyFirst(
      sql.type(z.object({ name: z.string() }))`SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'dq_embeddings'`,
    );
    expect(columns).not.toContain("embedding");
    expect(columns).toContain("qdrant_point_id");
    await expect(cutoverPgvector({ pool: fixture.pool, databaseUrl: fixture.database.url, logger })).rejects.toThrow(/already/);

    const rollback = await rollbackPgvector({ pool: fixture.pool, databaseUrl: fixture.database.url, logger, vectors: fixture.vectors });
    expect(rollback).toMatchObject({ recreatedColumn: true, columnType: "vector(3072)", indexes: [], restored: rows.length, missingPoints: 0 });
    const restored = await fixture.pool.any(
      sql.type(z.object({ id: z.string(), vector: z.instanceof(Uint8Array) }))`SELECT id, vector_send(embedding) AS vector FROM dq_embeddings`,
    );
    expect(restored).toHaveLength(rows.length);
    const { decodePgvector } = await import("../../src/pgvector/vector-codec.js");
    const original = new Map(usable.map((row) => [row.id, row.vector!]));
    for (const row of restored) {
      const expected = original.get(row.id);
      if (expected !== undefined) {
        // Qdrant stores cosine vectors normalized: equal up to length.
        expect(normalizedMaxDifference(decodePgvector(row.vector, "vector"), expected)).toBeLessThan(1e-6);
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

    // And the migration runs again from there, to the same end.
    const again = await migratePgvector({ pool: fixture.pool, vectors: fixture.vectors, logger }, options);
    expect(again.migrated).toBe(rows.length);
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
    expect(dry).toMatchObject({ schemaMigrated: false, totalRows: 30, alreadyMigrated: 0, toMigrate: 27, resumeAfterId: null });
    expect(dry.unusable.nullVector).toBe(3);
    expect(dry.plan[0]).toContain("npm run migrate");
    await expect(migratePgvector({ pool: fixture.pool, vectors: fixture.vectors, logger }, { dimensions: DIMENSIONS })).rejects.toThrow(/npm run migrate/);

    await runMigrations({ databaseUrl: fixture.database.url, logger });
    const report = await migratePgvector({ pool: fixture.pool, vectors: fixture.vectors, logger }, { dimensions: DIMENSIONS });
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
      migratePgvector({ pool: fixture.pool, vectors: failing, logger }, { dimensions: DIMENSIONS, batchSize: 20, upsertBatchSize: 20 }),
    ).rejects.toThrow(/killed/);
    const afterCrash = [...(await pointIds(fixture.pool)).values()].filter((id) => id !== null).length;
    expect(afterCrash).toBe(40);
    expect(await allPoints(fixture.vectors)).toBe(60);

    const resumed = await migratePgvector({ pool: fixture.pool, vectors: fixture.vectors, logger }, { dimensions: DIMENSIONS, batchSize: 20 });
    expect(resumed).toMatchObject({ resumed: true, completed: true, migrated: 80, scanned: 80 });
    expect(await allPoints(fixture.vectors)).toBe(120);
    const verify = await verifyPgvectorMigration({ pool: fixture.pool, vectors: fixture.vectors, logger }, { dimensions: DIMENSIONS, sampleSize: 10 });
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
    await fixture.pool.query(sql.type(NO_ROWS)`CREATE INDEX dq_embeddings_embedding_hnsw ON dq_embeddings USING hnsw (embedding halfvec_cosine_ops)`);
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it("widens halfvec to float32, verifies, cuts over and rolls back to halfvec", async () => {
    const dry = await dryRunPgvector({ pool: fixture.pool, logger }, { dimensions: DIMENSIONS });
    expect(dry).toMatchObject({ columnType: "halfvec(3072)", toMigrate: usable.length });
    expect(dry.unusable.nullVector).toBe(2);

    const report = await migratePgvector({ pool: fixture.pool, vectors: fixture.vectors, logger, embedder: embedder() }, { dimensions: DIMENSIONS, batchSize: 30, reembedMissing: true });
    expect(report).toMatchObject({ migrated: usable.length, reembedded: 2, completed: true });
    expect(openai.requests.flatMap((request) => request.input).sort()).toEqual(rows.filter((row) => row.vector === null).map((row) => row.content).sort());

    // Each float32 in Qdrant is the half value pgvector held (rounded from the seed), not the seed itself.
    const [point] = await fixture.vectors.get([usable[0].id], { withVector: true });
    const halfRounded = Float32Array.from(usable[0].vector!, (value) => Math.fround(value));
    expect(normalizedMaxDifference(point.vector!, halfRounded)).toBeLessThan(1e-3);

    const verify = await verifyPgvectorMigration({ pool: fixture.pool, vectors: fixture.vectors, logger }, { dimensions: DIMENSIONS, sampleSize: 10 });
    expect(verify.failures).toEqual([]);
    expect(verify.rows.maxDifference).toBeLessThan(1e-6);

    await cutoverPgvector({ pool: fixture.pool, databaseUrl: fixture.database.url, logger });
    const rollback = await rollbackPgvector({ pool: fixture.pool, databaseUrl: fixture.database.url, logger, vectors: fixture.vectors });
    expect(rollback).toMatchObject({ columnType: "halfvec(3072)", restored: rows.length, indexes: ["dq_embeddings_embedding_hnsw"] });
    const type = await fixture.pool.oneFirst(
      sql.type(z.object({ type: z.string() }))`SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'dq_embeddings'::regclass AND attname = 'embedding'`,
    );
    expect(type).toBe("halfvec(3072)");
  });

  it("--table migrates and verifies another table of the service's shape; cutover stays with dq_embeddings", async () => {
    await fixture.pool.query(sql.type(NO_ROWS)`CREATE TABLE legacy_half (LIKE dq_embeddings INCLUDING DEFAULTS)`);
    await fixture.pool.query(sql.type(NO_ROWS)`INSERT INTO legacy_half SELECT * FROM dq_embeddings`);
    await fixture.pool.query(sql.type(NO_ROWS)`UPDATE legacy_half SET id = gen_random_uuid(), qdrant_point_id = NULL`);
    const client = new QdrantClient({ host: qdrant.host, port: qdrant.port, compression: false, checkCompatibility: false });
    const vectors = createQdrantVectorStore({ client, collectionName: `pgvector_${randomUUID().slice(0, 8)}`, dimensions: DIMENSIONS, model: MODEL, logger });
    await vectors.start();

    const report = await migratePgvector({ pool: fixture.pool, vectors, logger }, { table: "legacy_half", dimensions: DIMENSIONS });
    expect(report).toMatchObject({ table: "legacy_half", columnType: "halfvec(3072)", migrated: rows.length, completed: true });
    const verify = await verifyPgvectorMigration({ pool: fixture.pool, vectors, logger }, { table: "legacy_half", dimensions: DIMENSIONS, sampleSize: 5 });
    expect(verify.failures).toEqual([]);
    await expect(cutoverPgvector({ pool: fixture.pool, databaseUrl: fixture.database.url, logger }, { table: "legacy_half" })).rejects.toThrow(/applies to dq_embeddings/);
    await expect(migratePgvector({ pool: fixture.pool, vectors, logger }, { table: "legacy_half; DROP TABLE x", dimensions: DIMENSIONS })).rejects.toThrow(/plain SQL name/);
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
    expect(dry.dimensionsFound).toEqual([{ dimensions: 1536, rows: 6 }, { dimensions: DIMENSIONS, rows: 54 }]);
    expect(dry.unusable.wrongDimension).toBe(6);

    const report = await migratePgvector({ pool: fixture.pool, vectors: fixture.vectors, logger }, { dimensions: DIMENSIONS });
    expect(report.migrated).toBe(54);
    expect(report.unusable.rows.map((row) => [row.id, row.reason, row.dimensions]).sort()).toEqual(
      short.map((row) => [row.id, "wrong_dimension", 1536]).sort(),
    );
    expect(openai.requests).toEqual([]);
    const ids = await pointIds(fixture.pool);
    for (const row of short) expect(ids.get(row.id)).toBeNull();

    const reembedded = await migratePgvector({ pool: fixture.pool, vectors: fixture.vectors, logger, embedder: embedder() }, { dimensions: DIMENSIONS, reembedMissing: true });
    expect(reembedded.reembedded).toBe(6);
    expect(openai.requests.flatMap((request) => request.input).sort()).toEqual(short.map((row) => row.content).sort());
    const verify = await verifyPgvectorMigration({ pool: fixture.pool, vectors: fixture.vectors, logger }, { dimensions: DIMENSIONS, sampleSize: 10 });
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

  async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const env = {
      PATH: process.env.PATH,
      DATABASE_URL: fixture.database.url,
      POSTGRES_POOL_SIZE: "1",
      QDRANT_URL: `http://${qdrant.host}:${qdrant.port}`,
      QDRANT_COLLECTION_NAME: collection,
      OPENAI_API_KEY: "test-key",
      OPENAI_BASE_URL: openaiBaseURL,
      LOG_LEVEL: "warn",
    };
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--import", "tsx", "src/cli/migrate-pgvector.ts", ...args], { env });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  }

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

    expect((await run("--cutover")).code).toBe(0);
    const rollback = await run("--rollback");
    expect(rollback.code).toBe(0);
    expect(rollback.stdout).toContain("restored 50 vector(s)");
    expect(openai.requests).toEqual([]);
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

  const migratedCount = async () =>
    fixture.pool.oneFirst(sql.type(z.object({ count: z.number() }))`SELECT count(qdrant_point_id)::int AS count FROM dq_embeddings`);

  it("resumes from the checkpoint after SIGKILL and ends with every vector carried over", async () => {
    // One row per batch: the run takes long enough to be killed half-way.
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/migrate-pgvector.ts", "--batch-size", "1"], { env: env(), stdio: "ignore" });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)));
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

    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "src/cli/migrate-pgvector.ts"], { env: env() });
    expect(stdout).toContain("resumed after");
    expect(stdout).toContain(`carried over: ${rows.length - afterKill} vector(s)`);
    expect(await migratedCount()).toBe(rows.length);
    const client = new QdrantClient({ host: qdrant.host, port: qdrant.port, compression: false, checkCompatibility: false });
    const count = await client.api("points").count({ collectionName: collection, exact: true });
    expect(Number(count.result?.count)).toBe(rows.length);
    expect(openai.requests).toEqual([]);
  });
});
