import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InclusionReason } from "../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { LOCAL_RELEVANCE_FLOOR } from "../../src/embedders/local-embedder.js";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";

async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

const column = (name: string, type: string, extra: Record<string, unknown> = {}) => ({ name, type, ...extra });

/** Singers perform in concerts through a junction table; stadiums host concerts; an unrelated HR table. */
const catalog = {
  schemas: [
    {
      name: "music",
      tables: [
        {
          name: "singer",
          description: "People who sing",
          columns: [
            column("singer_id", "integer", { primaryKey: true }),
            column("name", "text"),
            column("country", "text"),
            column("age", "integer", { description: "Age in years" }),
          ],
        },
        {
          name: "concert",
          columns: [
            column("concert_id", "integer", { primaryKey: true }),
            column("concert_name", "text"),
            column("year", "integer"),
            column("stadium_id", "integer", { references: { tableName: "stadium", columnName: "stadium_id" } }),
          ],
        },
        {
          name: "lineup",
          columns: [
            column("concert_id", "integer", { references: { tableName: "concert", columnName: "concert_id" } }),
            column("singer_id", "integer", { references: { tableName: "singer", columnName: "singer_id" } }),
          ],
        },
        {
          name: "stadium",
          columns: [
            column("stadium_id", "integer", { primaryKey: true }),
            column("location", "text"),
            column("capacity", "integer"),
          ],
        },
        {
          name: "employee_payroll",
          columns: [
            column("employee_id", "integer", { primaryKey: true }),
            column("salary", "numeric"),
            column("pay_grade", "text"),
          ],
        },
      ],
    },
  ],
  documents: [],
};

describe("RetrieveContext", () => {
  let app: TestApp;
  const catalogId = randomUUID();

  beforeAll(async () => {
    app = await startTestApp({ env: { EMBEDDING_DIMENSIONS: "512" } });
    await app.embeddings.createEmbeddingsForCatalog({ catalogId, catalog });
  });

  afterAll(async () => {
    await app?.stop();
  });

  it("ranks the tables a question needs first, with the join keys and the bridge table between them", async () => {
    const result = await app.retrieval.retrieveContext({
      catalogId,
      question: "What are the names of singers who performed in a concert in 2014?",
    });
    expect(result.insufficientContext).toBe(false);
    // Without min_relevance, the floor is the embedder's own (the local embedder's here).
    expect(result.relevanceFloor).toBeCloseTo(LOCAL_RELEVANCE_FLOOR);
    const tables = result.tables.map((table) => table.tableName);
    expect(tables.slice(0, 2).sort()).toEqual(["concert", "singer"]);
    // The junction table joins them: in the context, with its foreign keys.
    expect(tables).toContain("lineup");
    expect(result.contextText).toMatch(
      /CREATE TABLE music\.lineup \([\s\S]*singer_id integer REFERENCES music\.singer\(singer_id\)/,
    );
    const reasons = new Map(result.chunks.map((chunk) => [chunk.embedding?.content.split("\n")[0], chunk.reason]));
    expect([...reasons.values()]).toContain(InclusionReason.DIRECT_HIT);
    // The keys a join needs are there (as hits or as key columns).
    const columns = result.chunks
      .filter((chunk) => chunk.embedding?.kind === "column")
      .map((chunk) => `${chunk.embedding?.tableName}.${(chunk.embedding?.metadata as { column?: string }).column}`);
    expect(columns).toEqual(expect.arrayContaining(["singer.singer_id", "lineup.singer_id", "lineup.concert_id"]));
    // Chunks are grouped by table in table order.
    const order = result.chunks.map((chunk) => chunk.embedding?.tableName);
    const firstSeen = [...new Set(order)];
    expect(firstSeen).toEqual(result.tables.map((table) => table.tableName));
    expect(result.contextText).toContain("CREATE TABLE music.singer (");
    expect(result.contextText).toMatch(/singer_id integer REFERENCES music\.singer\(singer_id\)/);
    expect(result.tokenCount).toBeGreaterThan(0);
    expect(result.tokenCount).toBeLessThanOrEqual(4000);
    expect(tables).not.toContain("employee_payroll");
  });

  it("respects max_chunks and max_tokens, best first, and says when it cut relevant chunks", async () => {
    const small = await app.retrieval.retrieveContext({
      catalogId,
      question: "How many singers are from each country?",
      maxChunks: 2,
    });
    expect(small.chunks).toHaveLength(2);
    expect(small.tables[0].tableName).toBe("singer");
    expect(small.truncated).toBe(true);
    const tight = await app.retrieval.retrieveContext({
      catalogId,
      question: "How many singers are from each country?",
      maxTokens: 80,
    });
    expect(tight.tokenCount).toBeLessThanOrEqual(80);
    expect(tight.chunks.length).toBeGreaterThan(0);
  });

  it("brings the best table's other columns, which a question names only by a value", async () => {
    // "Hampden Park" is a value of stadium.location: no chunk matches it, yet the SQL filters on it.
    const result = await app.retrieval.retrieveContext({
      catalogId,
      question: "What is the capacity of Hampden Park?",
    });
    expect(result.tables[0].tableName).toBe("stadium");
    const stadiumColumns = result.chunks
      .filter((chunk) => chunk.embedding?.tableName === "stadium" && chunk.embedding.kind === "column")
      .map((chunk) => [(chunk.embedding?.metadata as { column?: string }).column, chunk.reason]);
    expect(stadiumColumns).toEqual(
      expect.arrayContaining([
        ["capacity", InclusionReason.DIRECT_HIT],
        ["location", InclusionReason.TABLE_CONTEXT],
      ]),
    );
    expect(result.contextText).toMatch(/CREATE TABLE music\.stadium \([\s\S]*location text/);
  });

  it("times each step of a call in dq_retrieve_step_seconds", async () => {
    const count = (text: string, step: string) =>
      Number(new RegExp(`^dq_retrieve_step_seconds_count\\{step="${step}"\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
    const steps = ["embed", "qdrant", "rank", "postgres", "assemble"];
    const before = await app.metricsText();
    await app.retrieval.retrieveContext({ catalogId, question: "How many singers are there?" });
    await app.retrieval.retrieveContext({ catalogId, question: "Which stadium is the largest?" });
    const after = await app.metricsText();
    expect(steps.map((step) => count(after, step) - count(before, step))).toEqual(steps.map(() => 2));
  });

  it("says insufficient_context instead of padding when nothing clears the relevance floor", async () => {
    const result = await app.retrieval.retrieveContext({
      catalogId,
      question: "zebra photosynthesis quantum",
      minRelevance: 0.5,
    });
    expect(result.insufficientContext).toBe(true);
    expect(result.chunks).toEqual([]);
    expect(result.relevanceFloor).toBeCloseTo(0.5);
    const otherCatalog = await app.retrieval.retrieveContext({
      catalogId: randomUUID(),
      question: "How many singers are there?",
    });
    expect(otherCatalog.insufficientContext).toBe(true);
  });

  it("refuses bad requests naming the field", async () => {
    expect((await failure(app.retrieval.retrieveContext({ catalogId: "x", question: "q" }))).rawMessage).toMatch(
      /^catalog_id/,
    );
    expect((await failure(app.retrieval.retrieveContext({ catalogId, question: " " }))).rawMessage).toMatch(
      /^question/,
    );
    expect(
      (await failure(app.retrieval.retrieveContext({ catalogId, question: "q", maxChunks: 201 }))).rawMessage,
    ).toMatch(/^max_chunks/);
    expect(
      (await failure(app.retrieval.retrieveContext({ catalogId, question: "q", maxTokens: 10 }))).rawMessage,
    ).toMatch(/^max_tokens/);
    const documentsOnly = randomUUID();
    const note = Array.from(
      { length: 40 },
      (_, index) => `Festival programme note ${index}: stages, lineups and sponsors.`,
    ).join(" ");
    await app.embeddings.createEmbeddingsForCatalog({
      catalogId: documentsOnly,
      catalog: { schemas: [], documents: [{ key: "programme", kind: "note", content: note }] },
    });
    const tooSmall = await failure(
      app.retrieval.retrieveContext({
        catalogId: documentsOnly,
        question: "festival programme stages and sponsors",
        maxTokens: 64,
        minRelevance: -1,
      }),
    );
    expect([tooSmall.code, tooSmall.rawMessage]).toEqual([
      Code.InvalidArgument,
      expect.stringMatching(/^max_tokens: is 64; the most relevant chunk alone needs \d+ tokens/),
    ]);
  });
});

describe("RetrieveContext is reproducible", () => {
  let app: TestApp;
  // Tables with the same columns: their column chunks tie on the words a question shares with them.
  const table = (name: string) => ({
    name,
    columns: [
      column("id", "integer", { primaryKey: true }),
      column("customer_id", "integer", { references: { tableName: "customer", columnName: "id" } }),
      column("amount", "numeric"),
      column("status", "text"),
      column("created_at", "timestamp"),
    ],
  });
  const tables = [
    {
      name: "customer",
      columns: [column("id", "integer", { primaryKey: true }), column("name", "text"), column("email", "text")],
    },
    ...["orders", "refunds", "invoices", "payments", "shipments", "returns"].map(table),
  ];
  const first = randomUUID();
  const second = randomUUID();
  const questions = [
    "What is the total amount per customer?",
    "Show the status of every record created last week",
    "amount status created_at",
  ];

  beforeAll(async () => {
    app = await startTestApp({ env: { EMBEDDING_DIMENSIONS: "512" } });
    // The same catalog under two ids. The second is first synced with its tables in the opposite order
    // (its points arrive in the opposite order; chunks listing related tables read differently), then
    // synced as the first: the same content, reached through another history.
    await app.embeddings.createEmbeddingsForCatalog({
      catalogId: second,
      catalog: { schemas: [{ name: "shop", tables: [...tables].reverse() }], documents: [] },
    });
    await app.embeddings.createEmbeddingsForCatalog({
      catalogId: first,
      catalog: { schemas: [{ name: "shop", tables }], documents: [] },
    });
    await app.embeddings.createEmbeddingsForCatalog({
      catalogId: second,
      catalog: { schemas: [{ name: "shop", tables }], documents: [] },
    });
  });

  afterAll(async () => {
    await app?.stop();
  });

  it("gives identical answers for two identical catalogs ingested in different orders", async () => {
    // Chunk ids are UUIDv5 per catalog, so answers are compared by what they say.
    const answer = async (catalogId: string, question: string) => {
      const r = await app.retrieval.retrieveContext({ catalogId, question, maxChunks: 12 });
      return {
        tables: r.tables.map((t) => `${t.schemaName}.${t.tableName}`),
        chunks: r.chunks.map((c) => [c.embedding?.content, c.reason, c.score]),
        text: r.contextText,
        truncated: r.truncated,
      };
    };
    for (const question of questions) {
      const a = await answer(first, question);
      expect(a.chunks.length).toBeGreaterThan(0);
      expect(await answer(second, question)).toEqual(a);
      // And the same catalog asked again answers the same.
      expect(await answer(first, question)).toEqual(a);
    }
  });
});
