import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";
import { StreamUpsertEmbeddingsRequestSchema } from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { createRestartableQdrant } from "../helpers/restartable-qdrant.js";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";
import { createTestDatabase, testDatabaseTarget } from "../helpers/test-database.js";

const DIMENSIONS = 32;
const logger = pino({ level: "silent" });

function request(catalogId: string, sequence: number) {
  return create(StreamUpsertEmbeddingsRequestSchema, {
    sequence: BigInt(sequence),
    embeddings: Array.from({ length: 4 }, (_, index) => ({
      id: randomUUID(),
      catalogId,
      kind: "column",
      content: `Column ${sequence}.${index}`,
      vector: Array.from({ length: DIMENSIONS }, (_, d) => Math.sin(sequence + index + d) + 0.1),
    })),
  });
}

/** Streams `count` messages and collects acknowledgements until the stream ends or fails. */
async function streamUntilFailure(app: TestApp, catalogId: string, count: number) {
  const sent = Array.from({ length: count }, (_, index) => request(catalogId, index + 1));
  const acked: bigint[] = [];
  let error: ConnectError | undefined;
  try {
    for await (const ack of app.embeddings.streamUpsertEmbeddings(
      (async function* () {
        yield* sent;
      })(),
    )) {
      acked.push(ack.sequence);
    }
  } catch (caught) {
    error = ConnectError.from(caught);
  }
  const ackedIds = sent
    .filter((message) => acked.includes(message.sequence))
    .flatMap((message) => message.embeddings.map((embedding) => embedding.id));
  return { acked, error, ackedIds };
}

describe("a stream when Qdrant stops mid-way", () => {
  let qdrant: Awaited<ReturnType<typeof createRestartableQdrant>>;
  let upserts = 0;
  let stopAtUpsert = Number.POSITIVE_INFINITY;
  let app: TestApp;

  beforeAll(async () => {
    qdrant = await createRestartableQdrant();
    await qdrant.start();
    app = await startTestApp({
      env: {
        ...qdrant.env,
        EMBEDDING_DIMENSIONS: String(DIMENSIONS),
        STREAM_BATCH_EMBEDDINGS: "8",
        REPAIR_INTERVAL_MS: "600000",
      },
      overrides: {
        wrapVectorStore: (store) => ({
          ...store,
          async upsert(points, options) {
            upserts++;
            if (upserts === stopAtUpsert) {
              await qdrant.stop();
            }
            return store.upsert(points, options);
          },
        }),
      },
    });
  });

  afterAll(async () => {
    await app?.stop();
    await qdrant?.dispose();
  });

  it("ends the stream UNAVAILABLE; every acknowledged message survives; reconcile finds no drift", async () => {
    const catalogId = randomUUID();
    upserts = 0;
    stopAtUpsert = 4;
    const { acked, error, ackedIds } = await streamUntilFailure(app, catalogId, 30);
    expect(error?.code).toBe(Code.Unavailable);
    expect(acked.length).toBeGreaterThan(0);
    expect(acked.length).toBeLessThan(30);
    expect(acked).toEqual(acked.map((_, index) => BigInt(index + 1)));

    await qdrant.start();
    // The batch that failed half-way is recorded; the repairer's pass finishes it (both stores at once).
    await app.running.repairer.runOnce();
    expect(await app.running.metadata.countIntents()).toBe(0);
    expect(await app.running.metadata.getRows(ackedIds)).toHaveLength(ackedIds.length);
    expect(await app.running.vectors.get(ackedIds)).toHaveLength(ackedIds.length);
    // Nothing beyond what was acknowledged is half-written: rows and points agree.
    expect(await app.running.metadata.countRows({ catalogId })).toBe(
      (await app.running.vectors.scroll({ catalogId, limit: 1000 })).points.length,
    );
    const reconcile = await app.embeddings.reconcileEmbeddings({ catalogId });
    expect([reconcile.rowsWithoutPoints, reconcile.pointsWithoutRows, reconcile.mismatchedPoints]).toEqual([
      0n,
      0n,
      0n,
    ]);
  });
});

// Killing backends needs a real server; CI runs one (REQUIRE_POSTGRES=1), PGlite has no backends to kill.
const target = testDatabaseTarget();
describe.skipIf(target.kind !== "postgres")("with a real Postgres server", () => {
  describe("a batch whose Postgres connection is killed after Qdrant accepted it", () => {
    it("is resolved from its intent (finished by the request, or rolled back by the repairer): both stores agree, reconcile finds no drift, the retry converges", async () => {
      const database = await createTestDatabase();
      const admin = await createPostgresPool({ url: database.url, maximumPoolSize: 1, logger });
      let killNext = false;
      // Slonik refuses a query on another pool from inside a transaction's async context, so the kill
      // runs in the test's own context, woken by the wrapped upsert.
      let wake!: () => void;
      let killed!: () => void;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      const done = new Promise<void>((resolve) => (killed = resolve));
      const killer = woken.then(async () => {
        await admin.query(
          sql.unsafe`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        );
        killed();
      });
      const app = await startTestApp({
        database,
        // The background repairer stays out of the way: the test runs its pass by hand.
        env: { EMBEDDING_DIMENSIONS: String(DIMENSIONS), REPAIR_INTERVAL_MS: "600000" },
        overrides: {
          wrapVectorStore: (store) => ({
            ...store,
            async upsert(points, options) {
              await store.upsert(points, options);
              if (killNext) {
                killNext = false;
                // The service's connection (holding the write's locks) dies before the final COMMIT.
                wake();
                await done;
              }
            },
          }),
        },
      });
      try {
        const catalogId = randomUUID();
        const batch = request(catalogId, 1).embeddings;
        killNext = true;
        const error = await app.embeddings.batchUpsertEmbeddings({ embeddings: batch }).then(
          () => undefined,
          (caught: unknown) => ConnectError.from(caught),
        );
        await killer;
        // Either the request finished its own write or it says UNAVAILABLE; never anything else.
        expect(error === undefined || error.code === Code.Unavailable).toBe(true);
        await app.running.repairer.runOnce();
        // All or nothing: acknowledged (finished by the request itself), or rolled back by the repairer
        // (a create that did not finish leaves nothing, not even its point).
        const expected = error === undefined ? 4 : 0;
        const ids = batch.map((embedding) => embedding.id);
        expect(await app.running.metadata.getRows(ids)).toHaveLength(expected);
        const points = await app.running.vectors.get(ids, { withVector: true });
        expect(points).toHaveLength(expected);
        // The caller's precomputed vectors, not re-embedded ones.
        expect(points.every((point) => point.payload.model === "precomputed")).toBe(true);
        expect(await app.running.metadata.countIntents()).toBe(0);
        const reconcile = await app.embeddings.reconcileEmbeddings({ catalogId });
        expect([reconcile.rowsWithoutPoints, reconcile.pointsWithoutRows, reconcile.mismatchedPoints]).toEqual([
          0n,
          0n,
          0n,
        ]);
        // The pool replaced the dead connection: the client's retry goes through.
        const retried = await app.embeddings.batchUpsertEmbeddings({ embeddings: batch });
        expect(retried.results).toHaveLength(4);
        expect(await app.running.vectors.get(ids)).toHaveLength(4);
      } finally {
        await app.stop();
        await admin.end();
      }
    });
  });
});
