import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingStatus, UpsertOutcome } from "../../gen/dq/embeddings/v1/embedding_pb.js";
import { failure } from "../helpers/grpc-status.js";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";

const DIMENSIONS = 3072;

function unitVector(seed: number): number[] {
  const values = Array.from({ length: DIMENSIONS }, (_, index) => Math.sin(seed * 7.1 + index * 0.37));
  const norm = Math.hypot(...values);
  return values.map((value) => value / norm);
}

describe("the walking skeleton over real gRPC", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });

  afterAll(async () => {
    await app?.stop();
  });

  it("stores an embedding from content and finds it by text with its content and metadata", async () => {
    const catalogId = randomUUID();
    const id = randomUUID();
    const distractor = randomUUID();
    const upserted = await app.embeddings.upsertEmbedding({
      embedding: {
        id,
        catalogId,
        kind: "table",
        content: "Table: public.singer. Columns: singer_id, name, country, age",
        schemaName: "public",
        tableName: "singer",
        metadata: { source: "test", columns: 4 },
      },
    });
    expect(upserted.outcome).toBe(UpsertOutcome.CREATED);
    expect(upserted.embedding?.qdrantPointId).toBe(id);
    expect(upserted.embedding?.status).toBe(EmbeddingStatus.PENDING);
    await app.embeddings.upsertEmbedding({
      embedding: {
        id: distractor,
        catalogId,
        kind: "table",
        content: "Table: public.stadium. Columns: stadium_id, location, capacity",
      },
    });

    const found = await app.retrieval.searchEmbeddings({
      catalogId,
      query: { case: "text", value: "How many singers do we have?" },
      limit: 2,
    });
    expect(found.hits.map((hit) => hit.embedding?.id)).toEqual([id, distractor]);
    const best = found.hits[0];
    expect(best.embedding?.content).toBe("Table: public.singer. Columns: singer_id, name, country, age");
    expect(best.embedding?.metadata).toEqual({ source: "test", columns: 4 });
    expect(best.embedding?.tableName).toBe("singer");
    expect(best.score).toBeGreaterThan(found.hits[1].score);

    // Both stores hold it.
    const [row] = await app.running.metadata.getRows([id]);
    expect(row.contentHash).toMatch(/^[0-9a-f]{64}$/);
    const [point] = await app.running.vectors.get([id], { withVector: true });
    expect(point.payload).toMatchObject({
      catalog_id: catalogId,
      kind: "table",
      schema: "public",
      table: "singer",
      status: "pending",
    });
    expect(point.vector).toHaveLength(DIMENSIONS);
  });

  it("does not re-embed or rewrite an unchanged embedding, and rewrites a changed one", async () => {
    const catalogId = randomUUID();
    const id = randomUUID();
    const input = { id, catalogId, kind: "column", content: "Column: singer.age", metadata: { b: 1, a: [1, 2] } };
    expect((await app.embeddings.upsertEmbedding({ embedding: input })).outcome).toBe(UpsertOutcome.CREATED);
    const [before] = await app.running.metadata.getRows([id]);
    expect((await app.embeddings.upsertEmbedding({ embedding: input })).outcome).toBe(UpsertOutcome.UNCHANGED);
    const [after] = await app.running.metadata.getRows([id]);
    expect(after.updatedAt).toBe(before.updatedAt);
    const changed = await app.embeddings.upsertEmbedding({
      embedding: { ...input, content: "Column: singer.age (years)" },
    });
    expect(changed.outcome).toBe(UpsertOutcome.UPDATED);
    expect((await app.running.metadata.getRows([id]))[0].content).toBe("Column: singer.age (years)");
  });

  it("stores a precomputed vector as given and finds it by vector", async () => {
    const catalogId = randomUUID();
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const [index, id] of ids.entries()) {
      await app.embeddings.upsertEmbedding({
        embedding: { id, catalogId, kind: "document", content: `doc ${index}`, vector: unitVector(index + 1) },
      });
    }
    const hits = await app.retrieval.searchEmbeddings({
      catalogId,
      query: { case: "vector", value: { values: unitVector(2) } },
      limit: 3,
    });
    expect(hits.hits[0].embedding?.id).toBe(ids[1]);
    expect(hits.hits[0].score).toBeCloseTo(1, 4);
    expect(hits.hits[0].embedding?.model).toBe("precomputed");
    const got = await app.embeddings.getEmbedding({ id: ids[0], catalogId, includeVector: true });
    const expected = unitVector(1);
    expect(got.embedding?.vector).toHaveLength(DIMENSIONS);
    got.embedding?.vector.forEach((value, index) => expect(value).toBeCloseTo(expected[index], 5));
  });

  it("scopes search to the catalog and to the kind, schema and table filters", async () => {
    const catalogA = randomUUID();
    const catalogB = randomUUID();
    const inA = randomUUID();
    const inB = randomUUID();
    const column = randomUUID();
    await app.embeddings.upsertEmbedding({
      embedding: {
        id: inA,
        catalogId: catalogA,
        kind: "table",
        content: "Table: orders",
        schemaName: "sales",
        tableName: "orders",
      },
    });
    await app.embeddings.upsertEmbedding({
      embedding: {
        id: column,
        catalogId: catalogA,
        kind: "column",
        content: "Column: orders.total",
        schemaName: "sales",
        tableName: "orders",
      },
    });
    await app.embeddings.upsertEmbedding({
      embedding: {
        id: inB,
        catalogId: catalogB,
        kind: "table",
        content: "Table: orders",
        schemaName: "sales",
        tableName: "orders",
      },
    });

    const all = await app.retrieval.searchEmbeddings({ catalogId: catalogA, query: { case: "text", value: "orders" } });
    expect(all.hits.map((hit) => hit.embedding?.id).sort()).toEqual([inA, column].sort());
    const tables = await app.retrieval.searchEmbeddings({
      catalogId: catalogA,
      query: { case: "text", value: "orders" },
      kinds: ["table"],
    });
    expect(tables.hits.map((hit) => hit.embedding?.id)).toEqual([inA]);
    const otherSchema = await app.retrieval.searchEmbeddings({
      catalogId: catalogA,
      query: { case: "text", value: "orders" },
      schemaName: "hr",
    });
    expect(otherSchema.hits).toEqual([]);
    const byTable = await app.retrieval.searchEmbeddings({
      catalogId: catalogA,
      query: { case: "text", value: "orders" },
      tableName: "orders",
      kinds: ["column"],
    });
    expect(byTable.hits.map((hit) => hit.embedding?.id)).toEqual([column]);
  });

  it("deletes from both stores; then get is NOT_FOUND and search no longer returns it", async () => {
    const catalogId = randomUUID();
    const id = randomUUID();
    await app.embeddings.upsertEmbedding({ embedding: { id, catalogId, kind: "table", content: "Table: venue" } });
    expect((await app.embeddings.deleteEmbedding({ id, catalogId })).deleted).toBe(true);
    expect(await app.running.metadata.getRows([id])).toEqual([]);
    expect(await app.running.vectors.get([id])).toEqual([]);
    const error = await failure(app.embeddings.getEmbedding({ id, catalogId }));
    expect(error.code).toBe(Code.NotFound);
    expect(error.rawMessage).toContain(id);
    expect((await app.retrieval.searchEmbeddings({ catalogId, query: { case: "text", value: "venue" } })).hits).toEqual(
      [],
    );
    expect((await failure(app.embeddings.deleteEmbedding({ id, catalogId }))).code).toBe(Code.NotFound);
    expect((await app.embeddings.deleteEmbedding({ id, catalogId, allowMissing: true })).deleted).toBe(false);
  });

  describe("bad input gets INVALID_ARGUMENT or NOT_FOUND naming the field, and writes nothing", () => {
    const valid = () => ({ id: randomUUID(), catalogId: randomUUID(), kind: "table", content: "Table: t" });
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["missing catalog_id", { catalogId: "" }, "embedding.catalog_id"],
      ["malformed catalog_id", { catalogId: "catalog-1" }, "embedding.catalog_id"],
      ["malformed id", { id: "42" }, "embedding.id"],
      ["empty content without a vector", { content: "" }, "embedding.content"],
      ["missing kind", { kind: "" }, "embedding.kind"],
      ["vector of the wrong dimension", { vector: [0.1, 0.2, 0.3] }, "embedding.vector"],
      ["vector with NaN", { vector: Object.assign(unitVector(3), { 17: Number.NaN }) }, "embedding.vector[17]"],
      [
        "vector with Infinity",
        { vector: Object.assign(unitVector(3), { 5: Number.POSITIVE_INFINITY }) },
        "embedding.vector[5]",
      ],
      ["oversized content", { content: "x".repeat(65_537) }, "embedding.content"],
    ];
    for (const [name, patch, field] of cases) {
      it(name, async () => {
        const embedding = { ...valid(), ...patch };
        const error = await failure(app.embeddings.upsertEmbedding({ embedding }));
        expect(error.code).toBe(Code.InvalidArgument);
        expect(error.rawMessage).toContain(field);
        if (typeof embedding.id === "string" && /^[0-9a-f-]{36}$/.test(embedding.id)) {
          expect(await app.running.metadata.getRows([embedding.id])).toEqual([]);
        }
      });
    }

    it("a missing embedding message", async () => {
      const error = await failure(app.embeddings.upsertEmbedding({}));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toContain("embedding");
    });

    it("search without catalog_id, with a bad limit, or without a query", async () => {
      const noCatalog = await failure(app.retrieval.searchEmbeddings({ query: { case: "text", value: "x" } }));
      expect([noCatalog.code, noCatalog.rawMessage.startsWith("catalog_id")]).toEqual([Code.InvalidArgument, true]);
      const overLimit = await failure(
        app.retrieval.searchEmbeddings({ catalogId: randomUUID(), query: { case: "text", value: "x" }, limit: 101 }),
      );
      expect([overLimit.code, overLimit.rawMessage.startsWith("limit")]).toEqual([Code.InvalidArgument, true]);
      const noQuery = await failure(app.retrieval.searchEmbeddings({ catalogId: randomUUID() }));
      expect([noQuery.code, noQuery.rawMessage.startsWith("query")]).toEqual([Code.InvalidArgument, true]);
      const shortVector = await failure(
        app.retrieval.searchEmbeddings({
          catalogId: randomUUID(),
          query: { case: "vector", value: { values: [1, 2] } },
        }),
      );
      expect([shortVector.code, shortVector.rawMessage.startsWith("vector.values")]).toEqual([
        Code.InvalidArgument,
        true,
      ]);
    });

    it("an unknown embedding id is NOT_FOUND and a malformed one INVALID_ARGUMENT", async () => {
      const unknown = randomUUID();
      const notFound = await failure(app.embeddings.getEmbedding({ id: unknown, catalogId: randomUUID() }));
      expect(notFound.code).toBe(Code.NotFound);
      expect(notFound.rawMessage).toContain(unknown);
      const malformed = await failure(app.embeddings.getEmbedding({ id: "nope", catalogId: randomUUID() }));
      expect([malformed.code, malformed.rawMessage.startsWith("id")]).toEqual([Code.InvalidArgument, true]);
    });

    it("an id that belongs to another catalog is refused", async () => {
      const id = randomUUID();
      await app.embeddings.upsertEmbedding({
        embedding: { id, catalogId: randomUUID(), kind: "table", content: "Table: a" },
      });
      const error = await failure(
        app.embeddings.upsertEmbedding({
          embedding: { id, catalogId: randomUUID(), kind: "table", content: "Table: a" },
        }),
      );
      expect(error.code).toBe(Code.FailedPrecondition);
    });
  });

  it("counts calls in the go-grpc-prometheus metrics on /metrics", async () => {
    const before = handled(await app.metricsText(), "GetEmbedding", "NotFound");
    await failure(app.embeddings.getEmbedding({ id: randomUUID(), catalogId: randomUUID() }));
    await failure(app.embeddings.getEmbedding({ id: randomUUID(), catalogId: randomUUID() }));
    const text = await app.metricsText();
    expect(handled(text, "GetEmbedding", "NotFound")).toBe(before + 2);
    expect(text).toMatch(
      /grpc_server_started_total\{grpc_type="unary",grpc_service="dq.embeddings.v1.EmbeddingService",grpc_method="GetEmbedding"\} \d+/,
    );
    expect(text).toMatch(
      /grpc_server_handling_seconds_bucket\{le="0.005",grpc_type="unary",grpc_service="dq.embeddings.v1.RetrievalService",grpc_method="SearchEmbeddings"\}/,
    );
    expect(text).toContain("process_cpu_seconds_total");
  });
});

function handled(text: string, method: string, code: string): number {
  const pattern = new RegExp(
    `grpc_server_handled_total\\{grpc_type="unary",grpc_service="[^"]+",grpc_method="${method}",grpc_code="${code}"\\} (\\d+)`,
  );
  return Number(pattern.exec(text)?.[1] ?? 0);
}
