import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createFakeOpenAIServer, type FakeOpenAIServer } from "../helpers/fake-openai-server.js";
import { failure } from "../helpers/grpc-status.js";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";

function catalog(
  options: {
    singerAgeDescription?: string;
    withStadium?: boolean;
    documents?: Array<{ key: string; content: string }>;
  } = {},
) {
  return {
    schemas: [
      {
        name: "concerts",
        tables: [
          {
            name: "singer",
            description: "People who sing at concerts",
            columns: [
              { name: "singer_id", type: "integer", primaryKey: true },
              { name: "name", type: "text" },
              { name: "age", type: "integer", description: options.singerAgeDescription ?? "Age in years" },
            ],
          },
          {
            name: "concert",
            columns: [
              { name: "concert_id", type: "integer", primaryKey: true },
              {
                name: "stadium_id",
                type: "integer",
                references: {
                  tableName: options.withStadium === false ? "concert" : "stadium",
                  columnName: options.withStadium === false ? "concert_id" : "stadium_id",
                },
              },
            ],
          },
          ...(options.withStadium === false
            ? []
            : [
                {
                  name: "stadium",
                  columns: [
                    { name: "stadium_id", type: "integer", primaryKey: true },
                    { name: "capacity", type: "integer" },
                  ],
                },
              ]),
        ],
      },
    ],
    documents: (options.documents ?? []).map((document) => ({ ...document, kind: "example" })),
  };
}

describe("CreateEmbeddingsForCatalog through the real openai SDK", () => {
  let openai: FakeOpenAIServer;
  let app: TestApp;

  beforeAll(async () => {
    openai = createFakeOpenAIServer();
    const { baseURL } = await openai.start();
    app = await startTestApp({
      env: {
        OPENAI_API_KEY: "sk-test-catalog",
        OPENAI_BASE_URL: baseURL,
        EMBEDDING_DIMENSIONS: "256",
        RECONCILE_SETTLE_MS: "0",
      },
    });
  });

  afterAll(async () => {
    await app?.stop();
    await openai?.stop();
  });

  beforeEach(() => openai.reset());

  const embeddedTexts = () => openai.requests.flatMap((request) => request.input);

  it("indexes incrementally: unchanged chunks are not embedded again, changed ones are, vanished ones are deleted", async () => {
    const catalogId = randomUUID();
    const first = await app.embeddings.createEmbeddingsForCatalog({ catalogId, catalog: catalog() });
    // 3 tables + 7 columns.
    expect([first.addedCount, first.updatedCount, first.unchangedCount, first.deletedCount]).toEqual([10, 0, 0, 0]);
    expect(embeddedTexts()).toHaveLength(10);
    expect(first.tokensEmbedded).toBeGreaterThan(0n);
    expect(
      openai.requests.every((request) => request.model === "text-embedding-3-large" && request.dimensions === 256),
    ).toBe(true);
    expect(await app.running.metadata.countRows({ catalogId })).toBe(10);
    const metrics = await app.metricsText();
    expect(Number(/dq_embedding_tokens_total\{embedder="openai"\} (\d+)/.exec(metrics)?.[1])).toBe(
      Number(first.tokensEmbedded),
    );
    expect(metrics).toMatch(/dq_store_batch_size_sum\{store="postgres",operation="upsertRows"\} \d+/);
    expect(metrics).toMatch(/dq_store_operation_seconds_count\{store="qdrant",operation="upsert"\} \d+/);

    openai.reset();
    const again = await app.embeddings.createEmbeddingsForCatalog({ catalogId, catalog: catalog() });
    expect([
      again.addedCount,
      again.updatedCount,
      again.unchangedCount,
      again.deletedCount,
      again.tokensEmbedded,
    ]).toEqual([0, 0, 10, 0, 0n]);
    expect(openai.requests).toEqual([]);

    // A row that the caller wrote by hand in the same catalog is not the sync's to delete.
    const manual = randomUUID();
    await app.embeddings.upsertEmbedding({
      embedding: { id: manual, catalogId, kind: "note", content: "hand-written note" },
    });
    openai.reset();

    const changed = await app.embeddings.createEmbeddingsForCatalog({
      catalogId,
      catalog: catalog({
        singerAgeDescription: "Age of the singer when the record was made",
        withStadium: false,
        documents: [{ key: "q1", content: "How many singers? SELECT count(*) FROM singer" }],
      }),
    });
    // singer.age changed; the singer table text lists the description too; the concert table and its stadium_id column
    // changed (their reference moved); stadium and its 2 columns are gone; one document is new.
    expect(changed.deletedCount).toBe(3);
    expect(changed.addedCount).toBe(1);
    expect(changed.updatedCount + changed.unchangedCount).toBe(7);
    expect(embeddedTexts()).toHaveLength(changed.addedCount + changed.updatedCount);
    expect(embeddedTexts().some((text) => text.includes("when the record was made"))).toBe(true);
    expect(embeddedTexts().some((text) => text.includes("SELECT count(*) FROM singer"))).toBe(true);
    expect(await app.running.metadata.countRows({ catalogId })).toBe(9);
    expect(await app.running.metadata.getRows([manual])).toHaveLength(1);
    const reconcile = await app.embeddings.reconcileEmbeddings({ catalogId });
    expect([reconcile.rowsWithoutPoints, reconcile.pointsWithoutRows, reconcile.mismatchedPoints]).toEqual([
      0n,
      0n,
      0n,
    ]);
  });

  it("a dry run reports the counts and estimated tokens without embedding or writing", async () => {
    const catalogId = randomUUID();
    const dry = await app.embeddings.createEmbeddingsForCatalog({ catalogId, catalog: catalog(), dryRun: true });
    expect([dry.dryRun, dry.addedCount, dry.deletedCount]).toEqual([true, 10, 0]);
    expect(dry.tokensEmbedded).toBeGreaterThan(0n);
    expect(openai.requests).toEqual([]);
    expect(await app.running.metadata.countRows({ catalogId })).toBe(0);
    const real = await app.embeddings.createEmbeddingsForCatalog({ catalogId, catalog: catalog() });
    expect(real.tokensEmbedded).toBe(dry.tokensEmbedded);
  });

  it("refuses a catalog with duplicate table names or a dangling reference, naming the field", async () => {
    const duplicate = catalog();
    duplicate.schemas[0].tables.push({ ...duplicate.schemas[0].tables[0] });
    const error = await failure(
      app.embeddings.createEmbeddingsForCatalog({ catalogId: randomUUID(), catalog: duplicate }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^catalog\.schemas\[0\]\.tables\[3\]/);
    const dangling = catalog();
    Object.assign(dangling.schemas[0].tables[1].columns[1], {
      references: { tableName: "arena", columnName: "arena_id" },
    });
    const danglingError = await failure(
      app.embeddings.createEmbeddingsForCatalog({ catalogId: randomUUID(), catalog: dangling }),
    );
    expect(danglingError.rawMessage).toContain("catalog.schemas[0].tables[1].columns[1].references");
    expect(openai.requests).toEqual([]);
  });

  it("rides out a 429 with retry-after, then succeeds", async () => {
    openai.failNext([{ status: 429, retryAfterMs: 5 }]);
    const catalogId = randomUUID();
    const result = await app.embeddings.createEmbeddingsForCatalog({ catalogId, catalog: catalog() });
    expect(result.addedCount).toBe(10);
    expect(openai.requests.length).toBeGreaterThanOrEqual(2);
    expect(openai.requests[0].input).toEqual(openai.requests[1].input);
  });

  it("answers UNAVAILABLE when the embedding API keeps failing, writing nothing, and leaves no drift", async () => {
    openai.failAlways(500, { retryAfterMs: 1 });
    const catalogId = randomUUID();
    const error = await failure(
      app.embeddings.upsertEmbedding({
        embedding: { id: randomUUID(), catalogId, kind: "table", content: "Table: doomed" },
      }),
    );
    expect(error.code).toBe(Code.Unavailable);
    expect(error.rawMessage).toMatch(/openai/i);
    expect(error.rawMessage).not.toContain("sk-test-catalog");
    const indexing = await failure(app.embeddings.createEmbeddingsForCatalog({ catalogId, catalog: catalog() }));
    expect(indexing.code).toBe(Code.Unavailable);
    expect(await app.running.metadata.countRows({ catalogId })).toBe(0);
    openai.reset();
    const reconcile = await app.embeddings.reconcileEmbeddings({ catalogId });
    expect([reconcile.rowsScanned, reconcile.pointsScanned]).toEqual([0n, 0n]);
  });
});
