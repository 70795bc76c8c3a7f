import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";

const DIMENSIONS = 16;
const same = Array.from({ length: DIMENSIONS }, (_, i) => Math.cos(i * 0.7) + 0.01);
const other = Array.from({ length: DIMENSIONS }, (_, i) => Math.sin(i * 1.3) + 0.01);

describe("SearchEmbeddings orders equal scores by id", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ env: { EMBEDDING_DIMENSIONS: String(DIMENSIONS) } });
  });

  afterAll(async () => {
    await app?.stop();
  });

  it("pages through tied hits in id order, whatever order they were written in", async () => {
    const catalogId = randomUUID();
    // Twelve embeddings with the very same vector (equal scores), written in three batches in an order
    // unrelated to their ids, plus one that scores lower.
    const tied = Array.from({ length: 12 }, (_, index) => ({
      id: randomUUID(),
      catalogId,
      kind: "column",
      content: `Column: t.c${index}`,
      vector: same,
    }));
    const shuffled = [...tied].sort((a, b) => a.content.localeCompare(b.content));
    for (const batch of [shuffled.slice(8), shuffled.slice(0, 3), shuffled.slice(3, 8)]) {
      await app.embeddings.batchUpsertEmbeddings({ embeddings: batch });
    }
    const lower = { id: randomUUID(), catalogId, kind: "column", content: "Column: t.other", vector: other };
    await app.embeddings.batchUpsertEmbeddings({ embeddings: [lower] });
    const byId = tied.map((e) => e.id).sort();
    const page = async (offset: number, limit: number) =>
      (
        await app.retrieval.searchEmbeddings({
          catalogId,
          query: { case: "vector", value: { values: same } },
          limit,
          offset,
        })
      ).hits.map((hit) => hit.embedding?.id);
    expect(await page(0, 5)).toEqual(byId.slice(0, 5));
    expect(await page(5, 5)).toEqual(byId.slice(5, 10));
    expect(await page(10, 5)).toEqual([...byId.slice(10), lower.id]);
  });
});
