// The VectorStore contract (src/stores/vector-store.ts), one suite run against every implementation:
// the Qdrant store on the embedded server (as the service builds it, and with the client's own Upsert)
// in test/integration/vector-store-contract.test.ts, and the in-memory store the core's unit tests use
// in test/unit/stores/vector-store-contract.test.ts. The way the metadata store's suite runs on both
// Postgres and PGlite.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PointPayload } from "../../src/core/types.js";
import type { VectorPoint, VectorStore } from "../../src/stores/vector-store.js";

export const CONTRACT_DIMENSIONS = 8;

export interface VectorStoreUnderTest {
  store: VectorStore;
  close(): Promise<void>;
}

/** A unit vector along axis `axis`, tilted towards `towards` by `tilt` (so scores are predictable). */
function vector(axis: number, tilt = 0, towards = (axis + 1) % CONTRACT_DIMENSIONS): Float32Array {
  const values = new Float32Array(CONTRACT_DIMENSIONS);
  values[axis] = 1;
  values[towards] += tilt;
  return values;
}

function point(catalogId: string, overrides: Partial<PointPayload> & { vector?: Float32Array; id?: string } = {}) {
  const { vector: dense, id, ...payload } = overrides;
  return {
    id: id ?? randomUUID(),
    vector: dense ?? vector(0),
    payload: {
      catalog_id: catalogId,
      kind: "table",
      schema: "public",
      table: "users",
      status: "pending",
      content_hash: randomUUID(),
      model: "contract-model",
      ...payload,
    },
  } satisfies VectorPoint;
}

const sorted = (ids: readonly string[]) => [...ids].map((id) => id.toLowerCase()).sort();

export function describeVectorStoreContract(name: string, open: () => Promise<VectorStoreUnderTest>): void {
  describe(`VectorStore contract: ${name}`, () => {
    let subject: VectorStoreUnderTest;
    let store: VectorStore;

    beforeAll(async () => {
      subject = await open();
      store = subject.store;
      await store.start();
    });

    afterAll(async () => {
      await subject?.close();
    });

    it("starts twice on the same collection and answers ping", async () => {
      await store.start();
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it("stores points by id: get returns each payload, and the vector normalized when asked", async () => {
      const catalogId = randomUUID();
      const first = point(catalogId, { vector: vector(1, 0, 2).map((value) => value * 3) });
      const second = point(catalogId, { schema: null, table: null, kind: "document" });
      await store.upsert([first, second]);
      const got = await store.get([second.id, first.id, randomUUID()], { withVector: true });
      expect(sorted(got.map((stored) => stored.id))).toEqual(sorted([first.id, second.id]));
      const byId = new Map(got.map((stored) => [stored.id.toLowerCase(), stored]));
      expect(byId.get(first.id)?.payload).toEqual(first.payload);
      expect(byId.get(second.id)?.payload).toEqual(second.payload);
      expect(Array.from(byId.get(first.id)?.vector ?? [])).toEqual(Array.from(vector(1, 0, 2)));
      const withoutVector = await store.get([first.id]);
      expect(withoutVector[0].vector).toBeUndefined();
    });

    it("replaces a point on a second upsert of its id", async () => {
      const catalogId = randomUUID();
      const original = point(catalogId, { vector: vector(2) });
      await store.upsert([original]);
      const replaced = { ...original, vector: vector(3), payload: { ...original.payload, content_hash: "second" } };
      await store.upsert([replaced]);
      const [stored] = await store.get([original.id], { withVector: true });
      expect(stored.payload.content_hash).toBe("second");
      expect(Array.from(stored.vector ?? [])).toEqual(Array.from(vector(3)));
    });

    it("treats empty batches as nothing to do", async () => {
      await store.upsert([]);
      await store.delete([]);
      await store.setStatus([], "accepted");
      expect(await store.get([])).toEqual([]);
    });

    it("deletes by id, unknown ids included", async () => {
      const catalogId = randomUUID();
      const kept = point(catalogId);
      const gone = point(catalogId);
      await store.upsert([kept, gone]);
      await store.delete([gone.id, randomUUID()]);
      expect((await store.get([kept.id, gone.id])).map((stored) => stored.id.toLowerCase())).toEqual([kept.id]);
    });

    it("deletes a whole catalog, or only its points of one status, and nothing of another catalog", async () => {
      const catalogId = randomUUID();
      const otherCatalogId = randomUUID();
      const rejected = point(catalogId, { status: "rejected" });
      const pending = point(catalogId);
      const other = point(otherCatalogId, { status: "rejected" });
      await store.upsert([rejected, pending, other]);
      await store.deleteCatalog(catalogId, { status: "rejected" });
      expect(sorted((await store.get([rejected.id, pending.id, other.id])).map((stored) => stored.id))).toEqual(
        sorted([pending.id, other.id]),
      );
      await store.deleteCatalog(catalogId);
      expect((await store.get([pending.id, other.id])).map((stored) => stored.id.toLowerCase())).toEqual([other.id]);
    });

    it("searches one catalog, nearest first, and never returns another catalog's points", async () => {
      const catalogId = randomUUID();
      const near = point(catalogId, { vector: vector(4, 0.1) });
      const far = point(catalogId, { vector: vector(4, 2) });
      const foreign = point(randomUUID(), { vector: vector(4) });
      await store.upsert([far, near, foreign]);
      const hits = await store.search({ filter: { catalogId }, vector: vector(4), limit: 10 });
      expect(hits.map((hit) => hit.id.toLowerCase())).toEqual([near.id, far.id]);
      expect(hits[0].score).toBeGreaterThan(hits[1].score);
      const page = await store.search({ filter: { catalogId }, vector: vector(4), limit: 1, offset: 1 });
      expect(page.map((hit) => hit.id.toLowerCase())).toEqual([far.id]);
      const above = await store.search({ filter: { catalogId }, vector: vector(4), limit: 10, scoreThreshold: 0.9 });
      expect(above.map((hit) => hit.id.toLowerCase())).toEqual([near.id]);
    });

    it("filters on kinds, schema, table and status; without statuses, rejected points are left out", async () => {
      const catalogId = randomUUID();
      const table = point(catalogId, { kind: "table", table: "orders" });
      const column = point(catalogId, { kind: "column", table: "orders", schema: "sales" });
      const rejected = point(catalogId, { status: "rejected" });
      const accepted = point(catalogId, { status: "accepted", table: "orders" });
      await store.upsert([table, column, rejected, accepted]);
      const ids = async (filter: Omit<Parameters<VectorStore["search"]>[0]["filter"], "catalogId">) =>
        sorted(
          (await store.search({ filter: { catalogId, ...filter }, vector: vector(0), limit: 10 })).map((hit) => hit.id),
        );
      expect(await ids({})).toEqual(sorted([table.id, column.id, accepted.id]));
      expect(await ids({ kinds: ["column"] })).toEqual([column.id]);
      expect(await ids({ schemaName: "sales" })).toEqual([column.id]);
      expect(await ids({ tableName: "orders" })).toEqual(sorted([table.id, column.id, accepted.id]));
      expect(await ids({ statuses: ["rejected"] })).toEqual([rejected.id]);
      expect(await ids({ statuses: ["accepted", "rejected"] })).toEqual(sorted([rejected.id, accepted.id]));
    });

    it("setStatus changes the payload's status, which searches then filter on", async () => {
      const catalogId = randomUUID();
      const subject = point(catalogId);
      await store.upsert([subject]);
      await store.setStatus([subject.id, randomUUID()], "rejected");
      expect((await store.get([subject.id]))[0].payload.status).toBe("rejected");
      expect(await store.search({ filter: { catalogId }, vector: vector(0), limit: 10 })).toEqual([]);
    });

    it("fuses dense and sparse candidates: a shared term brings a point the dense floor leaves out", async () => {
      const catalogId = randomUUID();
      const dense = point(catalogId, { vector: vector(5) });
      const lexical = {
        ...point(catalogId, { vector: vector(6) }),
        sparse: { indices: Uint32Array.from([7, 42]), values: Float32Array.from([1, 1]) },
      };
      const neither = point(catalogId, { vector: vector(7) });
      await store.upsert([dense, lexical, neither]);
      const { hits, bestDense } = await store.searchHybrid({
        filter: { catalogId },
        vector: vector(5),
        sparse: { indices: Uint32Array.from([42]), values: Float32Array.from([1]) },
        denseThreshold: 0.5,
        candidates: 10,
        limit: 10,
      });
      expect(sorted(hits.map((hit) => hit.id))).toEqual(sorted([dense.id, lexical.id]));
      expect(hits.find((hit) => hit.id.toLowerCase() === dense.id)?.payload).toEqual({
        kind: dense.payload.kind,
        schema: dense.payload.schema,
        table: dense.payload.table,
        content_hash: dense.payload.content_hash,
      });
      expect(bestDense).toBeCloseTo(1, 5);
    });

    it("scrolls every point of a catalog (or of all) once, in id order, page by page", async () => {
      const catalogId = randomUUID();
      const points = Array.from({ length: 7 }, () => point(catalogId));
      await store.upsert([...points, point(randomUUID())]);
      const seen: string[] = [];
      for (let afterId: string | undefined, first = true; first || afterId !== undefined; first = false) {
        const page = await store.scroll({ catalogId, afterId, limit: 3 });
        expect(page.points.length).toBeLessThanOrEqual(3);
        seen.push(...page.points.map((stored) => stored.id.toLowerCase()));
        afterId = page.nextId;
      }
      expect(seen).toEqual(sorted(points.map((stored) => stored.id)));
      const everything = await store.scroll({ limit: 10_000 });
      expect(everything.points.length).toBeGreaterThan(points.length);
    });
  });
}
