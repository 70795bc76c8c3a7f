// SearchEmbeddings pages in (score, point id) order even when the vector store orders equal scores
// its own way, as real Qdrant does: a tie group wider than the margin around a page, straddling the
// page's edges, is followed until its members beyond each edge are known.
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createRetrieve, type RetrieveDeps } from "../../../src/core/retrieve.js";
import type { EmbeddingRow } from "../../../src/core/types.js";
import type { VectorHit, VectorSearch } from "../../../src/stores/vector-store.js";

const CATALOG = randomUUID();

function row(id: string): EmbeddingRow {
  return {
    id,
    catalogId: CATALOG,
    kind: "column",
    content: id,
    metadata: {},
    schemaName: null,
    tableName: null,
    status: "accepted",
    contentHash: "",
    model: "m",
    qdrantPointId: id,
    createdAt: 0,
    updatedAt: 0,
  };
}

/** A store whose ties come back in descending id order, the opposite of the service's. */
function adversarialStore(points: VectorHit[]) {
  const calls: Array<{ offset: number; limit: number }> = [];
  const search = (query: VectorSearch): Promise<VectorHit[]> => {
    const offset = query.offset ?? 0;
    calls.push({ offset, limit: query.limit });
    const ordered = [...points].sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    return Promise.resolve(ordered.slice(offset, offset + query.limit));
  };
  const getRows = (ids: readonly string[]) => Promise.resolve(ids.map(row));
  return { vectors: { search }, metadata: { getRows }, calls };
}

function retrieveOver(points: VectorHit[]) {
  const store = adversarialStore(points);
  const deps = {
    vectors: store.vectors,
    metadata: store.metadata,
    embedder: {},
    logger: pino({ level: "silent" }),
  } as unknown as RetrieveDeps;
  const retrieve = createRetrieve(deps);
  const page = async (offset: number, limit: number) =>
    (
      await retrieve.search({
        filter: { catalogId: CATALOG },
        vector: new Float32Array([1]),
        offset,
        limit,
      })
    ).map((hit) => hit.row.id);
  return { page, calls: store.calls };
}

describe("paging through ties wider than the margin", () => {
  const ids = Array.from({ length: 60 }, (_, i) => `id-${String(i).padStart(3, "0")}`);
  // One better hit, 50 tied hits, 9 worse ones.
  const points: VectorHit[] = ids.map((id, i) => ({ id, score: i === 0 ? 0.9 : i <= 50 ? 0.5 : 0.1 }));

  it("every page of 7 is the next 7 in (score, id) order, so the pages tile the ranking", async () => {
    const { page } = retrieveOver(points);
    const seen: string[] = [];
    for (let offset = 0; offset < ids.length; offset += 7) seen.push(...(await page(offset, 7)));
    expect(seen).toEqual(ids);
  });

  it("a page inside the tie group is exact, and untied pages take one request", async () => {
    const { page, calls } = retrieveOver(points);
    expect(await page(21, 5)).toEqual(ids.slice(21, 26));
    expect(calls.length).toBeGreaterThan(1);
    const untied = retrieveOver(ids.map((id, i) => ({ id, score: 1 - i / 100 })));
    expect(await untied.page(21, 5)).toEqual(ids.slice(21, 26));
    expect(untied.calls).toHaveLength(1);
  });
});
