import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingStatus, UpsertOutcome } from "../../gen/dq/embeddings/v1/embedding_pb.js";
import {
  type StreamUpsertEmbeddingsRequest,
  StreamUpsertEmbeddingsRequestSchema,
} from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { failure } from "../helpers/grpc-status.js";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";

const DIMENSIONS = 64;

function vector(seed: number): number[] {
  return Array.from({ length: DIMENSIONS }, (_, index) => Math.cos(seed * 1.7 + index * 0.29) + 0.01);
}

function input(catalogId: string, index: number, withVector = true) {
  return {
    id: randomUUID(),
    catalogId,
    kind: "column",
    content: `Column: t.c${index}`,
    vector: withVector ? vector(index) : [],
  };
}

async function* messages(...batches: StreamUpsertEmbeddingsRequest[]) {
  yield* batches;
}

describe("EmbeddingService", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ env: { EMBEDDING_DIMENSIONS: String(DIMENSIONS), STREAM_BATCH_EMBEDDINGS: "16" } });
  });

  afterAll(async () => {
    await app?.stop();
  });

  describe("BatchUpsertEmbeddings", () => {
    it("writes every embedding and reports each outcome in request order", async () => {
      const catalogId = randomUUID();
      const embeddings = Array.from({ length: 5 }, (_, index) => input(catalogId, index, index % 2 === 0));
      const first = await app.embeddings.batchUpsertEmbeddings({ embeddings });
      expect(first.results.map((result) => [result.id, result.outcome])).toEqual(
        embeddings.map((embedding) => [embedding.id, UpsertOutcome.CREATED]),
      );
      expect(first.embeddedCount).toBe(2);
      expect(await app.running.metadata.countRows({ catalogId })).toBe(5);
      expect(await app.running.vectors.get(embeddings.map((embedding) => embedding.id))).toHaveLength(5);
      // A retry changes nothing for content-only embeddings and never duplicates.
      const again = await app.embeddings.batchUpsertEmbeddings({ embeddings });
      expect(again.embeddedCount).toBe(0);
      expect(
        again.results
          .filter((result) => !!embeddings.find((e) => e.id === result.id && e.vector.length === 0))
          .map((result) => result.outcome),
      ).toEqual([UpsertOutcome.UNCHANGED, UpsertOutcome.UNCHANGED]);
      expect(await app.running.metadata.countRows({ catalogId })).toBe(5);
    });

    it("is atomic: one bad embedding writes none, naming its index", async () => {
      const catalogId = randomUUID();
      const embeddings = [input(catalogId, 1), { ...input(catalogId, 2), vector: [1, 2, 3] }, input(catalogId, 3)];
      const error = await failure(app.embeddings.batchUpsertEmbeddings({ embeddings }));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toMatch(/^embeddings\[1\]\.vector/);
      expect(await app.running.metadata.countRows({ catalogId })).toBe(0);
    });

    it("refuses an empty batch, an oversized batch and duplicate ids", async () => {
      expect((await failure(app.embeddings.batchUpsertEmbeddings({ embeddings: [] }))).rawMessage).toMatch(
        /^embeddings: must hold at least one/,
      );
      const catalogId = randomUUID();
      const tooMany = Array.from({ length: 1001 }, (_, index) => ({ ...input(catalogId, index, false) }));
      expect((await failure(app.embeddings.batchUpsertEmbeddings({ embeddings: tooMany }))).rawMessage).toMatch(
        /limit is 1000/,
      );
      const one = input(catalogId, 1);
      const duplicate = await failure(app.embeddings.batchUpsertEmbeddings({ embeddings: [one, { ...one }] }));
      expect([duplicate.code, duplicate.rawMessage]).toEqual([
        Code.InvalidArgument,
        expect.stringMatching(/^embeddings\[1\]\.id/),
      ]);
    });
  });

  describe("StreamUpsertEmbeddings", () => {
    it("acknowledges every message in order once durable, batching across messages", async () => {
      const catalogId = randomUUID();
      const requests = Array.from({ length: 12 }, (_, index) =>
        create(StreamUpsertEmbeddingsRequestSchema, {
          sequence: BigInt(100 + index),
          embeddings: [
            input(catalogId, index * 3),
            input(catalogId, index * 3 + 1),
            input(catalogId, index * 3 + 2, false),
          ],
        }),
      );
      const acks = [];
      for await (const ack of app.embeddings.streamUpsertEmbeddings(messages(...requests))) {
        // Durable in both stores when acknowledged.
        const ids = requests[Number(ack.sequence) - 100].embeddings.map((embedding) => embedding.id);
        expect(await app.running.metadata.getRows(ids)).toHaveLength(3);
        expect(await app.running.vectors.get(ids)).toHaveLength(3);
        acks.push(ack);
      }
      expect(acks.map((ack) => ack.sequence)).toEqual(requests.map((request) => request.sequence));
      expect(acks.every((ack) => ack.createdCount === 3)).toBe(true);
      expect(await app.running.metadata.countRows({ catalogId })).toBe(36);
      const batches = /dq_stream_batch_embeddings_count (\d+)/.exec(await app.metricsText());
      expect(Number(batches?.[1])).toBeGreaterThan(0);
    });

    it("a replayed stream duplicates nothing", async () => {
      const catalogId = randomUUID();
      const request = create(StreamUpsertEmbeddingsRequestSchema, {
        sequence: 1n,
        embeddings: [input(catalogId, 1, false), input(catalogId, 2, false)],
      });
      for await (const _ of app.embeddings.streamUpsertEmbeddings(messages(request))) {
        // drain
      }
      const replay = [];
      for await (const ack of app.embeddings.streamUpsertEmbeddings(messages(request))) {
        replay.push(ack);
      }
      expect(replay).toMatchObject([{ sequence: 1n, createdCount: 0, unchangedCount: 2 }]);
      expect(await app.running.metadata.countRows({ catalogId })).toBe(2);
    });

    it("a bad message ends the stream with INVALID_ARGUMENT naming its sequence; earlier messages are acknowledged and kept", async () => {
      const catalogId = randomUUID();
      const good = create(StreamUpsertEmbeddingsRequestSchema, { sequence: 1n, embeddings: [input(catalogId, 1)] });
      const bad = create(StreamUpsertEmbeddingsRequestSchema, {
        sequence: 2n,
        embeddings: [{ ...input(catalogId, 2), catalogId: "x" }],
      });
      const acks: bigint[] = [];
      const error = await failure(
        (async () => {
          for await (const ack of app.embeddings.streamUpsertEmbeddings(messages(good, bad))) {
            acks.push(ack.sequence);
          }
        })(),
      );
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toContain("sequence=2");
      expect(error.rawMessage).toContain("catalog_id");
      expect(acks).toEqual([1n]);
      expect(await app.running.metadata.countRows({ catalogId })).toBe(1);
    });
  });

  describe("deletes and review", () => {
    it("BatchDeleteEmbeddings deletes from both stores and reports unknown ids; require_all deletes nothing", async () => {
      const catalogId = randomUUID();
      const embeddings = [input(catalogId, 1), input(catalogId, 2), input(catalogId, 3)];
      await app.embeddings.batchUpsertEmbeddings({ embeddings });
      const unknown = randomUUID();
      const strict = await failure(
        app.embeddings.batchDeleteEmbeddings({ catalogId, ids: [embeddings[0].id, unknown], requireAll: true }),
      );
      expect(strict.code).toBe(Code.NotFound);
      expect(await app.running.metadata.countRows({ catalogId })).toBe(3);
      const result = await app.embeddings.batchDeleteEmbeddings({
        catalogId,
        ids: [embeddings[0].id, embeddings[1].id, unknown],
      });
      expect(result.deletedIds).toEqual([embeddings[0].id, embeddings[1].id]);
      expect(result.missingIds).toEqual([unknown]);
      expect(await app.running.vectors.get(embeddings.map((embedding) => embedding.id))).toHaveLength(1);
      expect((await failure(app.embeddings.batchDeleteEmbeddings({ catalogId, ids: [] }))).code).toBe(
        Code.InvalidArgument,
      );
      expect((await failure(app.embeddings.batchDeleteEmbeddings({ catalogId, ids: ["nope"] }))).rawMessage).toMatch(
        /^ids\[0\]/,
      );
    });

    it("DeleteCatalogEmbeddings is a dry run unless forced, and touches only that catalog", async () => {
      const catalogId = randomUUID();
      const other = randomUUID();
      await app.embeddings.batchUpsertEmbeddings({ embeddings: [input(catalogId, 1), input(catalogId, 2)] });
      await app.embeddings.batchUpsertEmbeddings({ embeddings: [input(other, 1)] });
      const dry = await app.embeddings.deleteCatalogEmbeddings({ catalogId });
      expect([dry.dryRun, dry.matchedCount, dry.deletedCount, dry.sampleIds.length]).toEqual([true, 2n, 0n, 2]);
      expect(await app.running.metadata.countRows({ catalogId })).toBe(2);
      const forced = await app.embeddings.deleteCatalogEmbeddings({ catalogId, force: true });
      expect([forced.dryRun, forced.deletedCount]).toEqual([false, 2n]);
      expect(await app.running.metadata.countRows({ catalogId })).toBe(0);
      expect((await app.running.vectors.scroll({ catalogId, limit: 10 })).points).toEqual([]);
      expect(await app.running.metadata.countRows({ catalogId: other })).toBe(1);
    });

    it("a rejected embedding leaves search at once; cleanup deletes rejected ones (dry run first)", async () => {
      const catalogId = randomUUID();
      const [kept, rejected] = [input(catalogId, 1), input(catalogId, 2)];
      await app.embeddings.batchUpsertEmbeddings({ embeddings: [kept, rejected] });
      const update = await app.embeddings.updateEmbeddingStatus({
        catalogId,
        ids: [rejected.id, randomUUID()],
        status: EmbeddingStatus.REJECTED,
      });
      expect(update.updatedIds).toEqual([rejected.id]);
      expect(update.missingIds).toHaveLength(1);
      expect((await app.running.vectors.get([rejected.id]))[0].payload.status).toBe("rejected");
      const search = await app.retrieval.searchEmbeddings({
        catalogId,
        query: { case: "vector", value: { values: vector(2) } },
      });
      expect(search.hits.map((hit) => hit.embedding?.id)).toEqual([kept.id]);
      const asked = await app.retrieval.searchEmbeddings({
        catalogId,
        query: { case: "vector", value: { values: vector(2) } },
        statuses: [EmbeddingStatus.REJECTED],
      });
      expect(asked.hits.map((hit) => hit.embedding?.id)).toEqual([rejected.id]);

      const dry = await app.embeddings.cleanupRejectedEmbeddings({ catalogId, dryRun: true });
      expect([dry.matchedCount, dry.deletedCount, dry.sampleIds]).toEqual([1n, 0n, [rejected.id]]);
      const done = await app.embeddings.cleanupRejectedEmbeddings({ catalogId });
      expect(done.deletedCount).toBe(1n);
      expect(await app.running.metadata.getRows([rejected.id])).toEqual([]);
      expect(await app.running.vectors.get([rejected.id])).toEqual([]);
      expect(await app.running.metadata.getRows([kept.id])).toHaveLength(1);
      expect((await failure(app.embeddings.updateEmbeddingStatus({ catalogId, ids: [kept.id] }))).rawMessage).toMatch(
        /^status/,
      );
    });
  });

  describe("ReconcileEmbeddings", () => {
    it("finds rows without points, points without rows and stale payloads, and repairs them", async () => {
      const catalogId = randomUUID();
      const [a, b, c] = [input(catalogId, 1, false), input(catalogId, 2), input(catalogId, 3)];
      await app.embeddings.batchUpsertEmbeddings({ embeddings: [a, b, c] });
      // Drift made behind the service's back, one store at a time.
      await app.running.vectors.delete([a.id]);
      await app.running.metadata.deleteRows([b.id]);
      await app.running.vectors.setStatus([c.id], "accepted");

      const dry = await app.embeddings.reconcileEmbeddings({ catalogId });
      expect([dry.rowsWithoutPoints, dry.pointsWithoutRows, dry.mismatchedPoints, dry.repairedCount]).toEqual([
        1n,
        1n,
        1n,
        0n,
      ]);
      expect(dry.sampleIds.sort()).toEqual([a.id, b.id, c.id].sort());
      expect(await app.metricsText()).toContain(`dq_reconcile_drift{catalog_id="${catalogId}"} 3`);

      const repaired = await app.embeddings.reconcileEmbeddings({ catalogId, repair: true });
      expect(repaired.repairedCount).toBe(3n);
      expect(await app.running.vectors.get([a.id])).toHaveLength(1);
      expect(await app.running.vectors.get([b.id])).toEqual([]);
      expect((await app.running.vectors.get([c.id]))[0].payload.status).toBe("pending");

      const clean = await app.embeddings.reconcileEmbeddings({ catalogId });
      expect([clean.rowsWithoutPoints, clean.pointsWithoutRows, clean.mismatchedPoints]).toEqual([0n, 0n, 0n]);
      expect(await app.metricsText()).toContain(`dq_reconcile_drift{catalog_id="${catalogId}"} 0`);
    });
  });
});
