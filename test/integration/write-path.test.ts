/**
 * The write path (src/core/write-path.ts) under injected faults and racing writers. Everything is
 * ordered by barriers (deferred promises released by the test, or by observing Postgres' lock table),
 * never by sleeps. The invariants checked after each scenario:
 *   1. an acknowledged write is in both stores with its content and the caller's exact vector;
 *   2. a call naming another catalog changes nothing of this one;
 *   3. after the repairer's pass no intent is left, no row lacks its point and reconcile finds no drift;
 *   4. nothing is half-visible: rows and points agree.
 */
import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnavailableError } from "../../src/core/errors.js";
import type { WriteOp, WriteStep } from "../../src/core/write-path.js";
import { createLocalEmbedder } from "../../src/embedders/local-embedder.js";
import type { Embedder } from "../../src/embedders/embedder.js";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";
import { EmbeddingStatus, UpsertOutcome } from "../../gen/dq/embeddings/v1/embedding_pb.js";
import { failure } from "../helpers/grpc-status.js";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";
import { testDatabaseTarget } from "../helpers/test-database.js";

const DIMENSIONS = 32;
const logger = pino({ level: "silent" });

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

function vectorOf(seed: number): number[] {
  return Array.from({ length: DIMENSIONS }, (_, index) => Math.sin(seed * 0.7 + index * 0.31) + 0.05);
}

function normalized(values: number[]): number[] {
  const norm = Math.hypot(...values);
  return values.map((value) => Math.fround(value / norm));
}

type Fault =
  | { kind: "hook"; op: WriteOp; step: WriteStep; mode: "fail" | "crash" }
  | { kind: "vectors"; op: WriteOp; when: "before-send" | "after-applied" };

/** What the next write does at each step: pass, fail, stop dead, or wait for the test. */
interface Control {
  fault?: Fault;
  /** Blocks the first write reaching (op, step) until released. */
  block?: { op: WriteOp; step: WriteStep; reached: ReturnType<typeof deferred>; release: ReturnType<typeof deferred> };
}

function vectorOp(method: string): WriteOp | undefined {
  return method === "upsert"
    ? "upsert"
    : method === "delete"
      ? "delete"
      : method === "setStatus"
        ? "status"
        : undefined;
}

async function startControlledApp(control: Control, extra: { embedder?: Embedder } = {}): Promise<TestApp> {
  return startTestApp({
    env: { EMBEDDING_DIMENSIONS: String(DIMENSIONS), REPAIR_INTERVAL_MS: "600000" },
    overrides: {
      embedder: extra.embedder,
      writeHooks: {
        async at(step, op) {
          const block = control.block;
          if (block !== undefined && block.op === op && block.step === step) {
            control.block = undefined;
            block.reached.resolve();
            await block.release.promise;
          }
          const fault = control.fault;
          if (fault?.kind === "hook" && fault.op === op && fault.step === step) {
            control.fault = undefined;
            if (fault.mode === "crash") {
              return "crash";
            }
            throw new UnavailableError("postgres", `injected failure at ${step}`);
          }
        },
      },
      // The fault-injecting VectorStore: fails a call before it is sent, or after Qdrant applied it.
      wrapVectorStore: (store) =>
        new Proxy(store, {
          get(target, property, receiver) {
            const value = Reflect.get(target, property, receiver) as unknown;
            const op = typeof property === "string" ? vectorOp(property) : undefined;
            if (typeof value !== "function" || op === undefined) {
              return value;
            }
            return async (...args: unknown[]) => {
              const fault = control.fault;
              if (fault?.kind === "vectors" && fault.op === op) {
                control.fault = undefined;
                if (fault.when === "before-send") {
                  throw new UnavailableError("qdrant", "injected failure before send");
                }
                await (value as (...callArgs: unknown[]) => Promise<unknown>).apply(target, args);
                throw new UnavailableError("qdrant", "injected failure after Qdrant applied the request");
              }
              return (value as (...callArgs: unknown[]) => Promise<unknown>).apply(target, args);
            };
          },
        }),
    },
  });
}

/** Invariant 3 and 4: after one repairer pass nothing is pending and the two stores agree exactly. */
async function expectConverged(app: TestApp, catalogId: string): Promise<void> {
  await app.running.repairer.runOnce();
  expect(await app.running.metadata.countIntents()).toBe(0);
  const reconcile = await app.embeddings.reconcileEmbeddings({ catalogId });
  expect([reconcile.rowsWithoutPoints, reconcile.pointsWithoutRows, reconcile.mismatchedPoints]).toEqual([0n, 0n, 0n]);
  const rows = (await app.running.metadata.listRows({ catalogId, limit: 1000 })).map((row) => row.id).sort();
  const points = (await app.running.vectors.scroll({ catalogId, limit: 1000 })).points.map((point) => point.id).sort();
  expect(points).toEqual(rows);
}

async function outcome<T>(call: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: ConnectError }> {
  return call.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error: ConnectError.from(error) }),
  );
}

const FAULTS: Fault[] = (["upsert", "delete", "status"] as const).flatMap((op) => [
  ...(["intent-recorded", "vectors-applied", "before-apply-commit", "applied"] as const).flatMap((step) =>
    (["fail", "crash"] as const).map((mode): Fault => ({ kind: "hook", op, step, mode })),
  ),
  { kind: "vectors", op, when: "before-send" },
  { kind: "vectors", op, when: "after-applied" },
]);

function describeFault(fault: Fault): string {
  return fault.kind === "hook"
    ? `${fault.op}: ${fault.mode} at ${fault.step}`
    : `${fault.op}: Qdrant fails ${fault.when}`;
}

describe("the write path under injected faults", () => {
  const control: Control = {};
  let app: TestApp;

  beforeAll(async () => {
    app = await startControlledApp(control);
  });

  afterAll(async () => {
    await app?.stop();
  });

  it.each(FAULTS.map((fault) => [describeFault(fault), fault] as const))(
    "%s: the call's answer and both stores agree after repair",
    async (_name, fault) => {
      const catalogId = randomUUID();
      const id = randomUUID();
      const original = vectorOf(1);
      const replacement = vectorOf(2);
      await app.embeddings.upsertEmbedding({
        embedding: { id, catalogId, kind: "table", content: "Table: before", vector: original },
      });

      control.fault = fault;
      const result =
        fault.op === "upsert"
          ? await outcome(
              app.embeddings.upsertEmbedding({
                embedding: { id, catalogId, kind: "table", content: "Table: after", vector: replacement },
              }),
            )
          : fault.op === "delete"
            ? await outcome(app.embeddings.deleteEmbedding({ id, catalogId }))
            : await outcome(
                app.embeddings.updateEmbeddingStatus({ ids: [id], catalogId, status: EmbeddingStatus.REJECTED }),
              );
      expect(control.fault).toBeUndefined();
      if (!result.ok) {
        // A failed write is reported as the store being unavailable, never as a bug.
        expect(result.error.code).toBe(Code.Unavailable);
      }
      await expectConverged(app, catalogId);

      const [row] = await app.running.metadata.getRows([id]);
      const [point] = await app.running.vectors.get([id], { withVector: true });
      if (fault.op === "delete") {
        // Deletes commit in Postgres first (retrieval stops serving the row there): once recorded, the
        // delete always completes, by the request itself or by the repairer.
        expect([row, point]).toEqual([undefined, undefined]);
        return;
      }
      if (fault.op === "status") {
        expect(row.status).toBe("rejected");
        expect(point.payload.status).toBe("rejected");
        // A rejected chunk is never served, whatever state Qdrant's payload was left in.
        const search = await app.retrieval.searchEmbeddings({
          catalogId,
          query: { case: "vector", value: { values: original } },
        });
        expect(search.hits).toEqual([]);
        return;
      }
      // Upserts roll forward from the intent: the new content with the caller's exact vector, never a
      // re-embedded one, in both stores.
      const acknowledged = result.ok;
      const finished = row.content === "Table: after";
      if (acknowledged) {
        expect(finished).toBe(true);
      }
      const expected = finished ? replacement : original;
      expect(point.payload.content_hash).toBe(row.contentHash);
      expect(row.model).toBe("precomputed");
      expect(Array.from(point.vector ?? [])).toEqual(normalized(expected).map((value) => expect.closeTo(value, 6)));
    },
  );

  it.each(["intent-recorded", "vectors-applied", "before-apply-commit"] as const)(
    "a catalog sync that crashes at %s: the repairer finishes the recorded batch, the re-sent sync converges",
    async (step) => {
      const catalogId = randomUUID();
      const upload = (tables: string[]) => ({
        catalogId,
        catalog: {
          schemas: [
            {
              name: "public",
              tables: tables.map((name) => ({
                name,
                columns: [
                  { name: "id", type: "int" },
                  { name: "label", type: "text" },
                ],
              })),
            },
          ],
        },
      });
      await app.embeddings.createEmbeddingsForCatalog(upload(["alpha", "beta"]));
      control.fault = { kind: "hook", op: "upsert", step, mode: "crash" };
      const crashed = await outcome(app.embeddings.createEmbeddingsForCatalog(upload(["alpha", "gamma"])));
      expect(!crashed.ok && crashed.error.code).toBe(Code.Unavailable);
      await expectConverged(app, catalogId);
      const again = await app.embeddings.createEmbeddingsForCatalog(upload(["alpha", "gamma"]));
      expect(again.deletedCount).toBe(3);
      const tables = new Set(
        (await app.running.metadata.listRows({ catalogId, limit: 100 })).map((row) => row.tableName),
      );
      expect([...tables].sort()).toEqual(["alpha", "gamma"]);
      await expectConverged(app, catalogId);
    },
  );

  it.each(["intent-recorded", "vectors-applied"] as const)(
    "a catalog delete that crashes at %s: its recorded page still completes, a second call finishes",
    async (step) => {
      const catalogId = randomUUID();
      await app.embeddings.batchUpsertEmbeddings({
        embeddings: Array.from({ length: 5 }, (_, index) => ({
          id: randomUUID(),
          catalogId,
          kind: "table",
          content: `Table: t${index}`,
          vector: vectorOf(index + 10),
        })),
      });
      control.fault = { kind: "hook", op: "delete", step, mode: "crash" };
      const crashed = await outcome(app.embeddings.deleteCatalogEmbeddings({ catalogId, force: true }));
      expect(!crashed.ok && crashed.error.code).toBe(Code.Unavailable);
      // Postgres committed the page's deletes with their intents: retrieval no longer serves them.
      expect(await app.running.metadata.countRows({ catalogId })).toBe(0);
      const search = await app.retrieval.searchEmbeddings({
        catalogId,
        query: { case: "vector", value: { values: vectorOf(10) } },
      });
      expect(search.hits).toEqual([]);
      await expectConverged(app, catalogId);
      expect((await app.running.vectors.scroll({ catalogId, limit: 10 })).points).toEqual([]);
      const again = await app.embeddings.deleteCatalogEmbeddings({ catalogId, force: true });
      expect(again.deletedCount).toBe(0n);
    },
  );

  it.each(["intent-recorded", "vectors-applied", "before-apply-commit"] as const)(
    "a create that dies at %s is rolled back: no row, no point, nothing served",
    async (step) => {
      const catalogId = randomUUID();
      const id = randomUUID();
      control.fault = { kind: "hook", op: "upsert", step, mode: "crash" };
      const result = await outcome(
        app.embeddings.upsertEmbedding({
          embedding: { id, catalogId, kind: "table", content: "Table: doomed", vector: vectorOf(7) },
        }),
      );
      expect(!result.ok && result.error.code).toBe(Code.Unavailable);
      // Meanwhile retrieval serves nothing of it, even when its point reached Qdrant.
      expect(
        (await app.retrieval.searchEmbeddings({ catalogId, query: { case: "vector", value: { values: vectorOf(7) } } }))
          .hits,
      ).toEqual([]);
      await expectConverged(app, catalogId);
      expect(await app.running.metadata.getRows([id])).toEqual([]);
      expect(await app.running.vectors.get([id])).toEqual([]);
    },
  );

  it("a retry after a crash never answers UNCHANGED for a point that was never written", async () => {
    const catalogId = randomUUID();
    const id = randomUUID();
    control.fault = { kind: "hook", op: "upsert", step: "intent-recorded", mode: "crash" };
    const first = await outcome(
      app.embeddings.upsertEmbedding({
        embedding: { id, catalogId, kind: "table", content: "Table: crash", vector: vectorOf(3) },
      }),
    );
    expect(first.ok).toBe(false);
    expect(await app.running.metadata.countIntents()).toBeGreaterThan(0);
    const retry = await app.embeddings.upsertEmbedding({
      embedding: { id, catalogId, kind: "table", content: "Table: crash", vector: vectorOf(3) },
    });
    expect(retry.outcome).not.toBe(UpsertOutcome.UNCHANGED);
    expect(await app.running.vectors.get([id])).toHaveLength(1);
    // The same text without a vector is now unchanged: its point exists and agrees.
    const again = await app.embeddings.upsertEmbedding({
      embedding: { id, catalogId, kind: "table", content: "Table: crash", vector: vectorOf(3) },
    });
    expect(again.embedding?.contentHash).toBe(retry.embedding?.contentHash);
    await expectConverged(app, catalogId);
  });

  it("the catalog is an access boundary: another catalog's id is NOT_FOUND / missing and is never changed", async () => {
    const owner = randomUUID();
    const intruder = randomUUID();
    const id = randomUUID();
    await app.embeddings.upsertEmbedding({
      embedding: { id, catalogId: owner, kind: "table", content: "Table: private", vector: vectorOf(4) },
    });
    const unknown = randomUUID();

    const foreign = await failure(app.embeddings.getEmbedding({ id, catalogId: intruder }));
    const missing = await failure(app.embeddings.getEmbedding({ id: unknown, catalogId: intruder }));
    expect([foreign.code, missing.code]).toEqual([Code.NotFound, Code.NotFound]);
    // No existence oracle: the answers differ only by the id they name.
    expect(foreign.rawMessage.replace(id, "X")).toBe(missing.rawMessage.replace(unknown, "X"));
    expect((await failure(app.embeddings.deleteEmbedding({ id, catalogId: intruder }))).code).toBe(Code.NotFound);
    expect((await app.embeddings.deleteEmbedding({ id, catalogId: intruder, allowMissing: true })).deleted).toBe(false);
    expect(await app.embeddings.batchDeleteEmbeddings({ ids: [id], catalogId: intruder })).toMatchObject({
      deletedIds: [],
      missingIds: [id],
    });
    expect(
      await app.embeddings.updateEmbeddingStatus({ ids: [id], catalogId: intruder, status: EmbeddingStatus.REJECTED }),
    ).toMatchObject({ updatedIds: [], missingIds: [id] });
    const overwrite = await failure(
      app.embeddings.upsertEmbedding({
        embedding: { id, catalogId: intruder, kind: "table", content: "Table: stolen", vector: vectorOf(5) },
      }),
    );
    expect(overwrite.code).toBe(Code.FailedPrecondition);
    expect(overwrite.rawMessage).toContain("id");
    const missingCatalog = await failure(app.embeddings.getEmbedding({ id }));
    expect([missingCatalog.code, missingCatalog.rawMessage.startsWith("catalog_id")]).toEqual([
      Code.InvalidArgument,
      true,
    ]);

    const [row] = await app.running.metadata.getRows([id]);
    const [point] = await app.running.vectors.get([id]);
    expect([row.catalogId, row.content, row.status, point.payload.catalog_id, point.payload.status]).toEqual([
      owner,
      "Table: private",
      "pending",
      owner,
      "pending",
    ]);
    expect((await app.embeddings.getEmbedding({ id, catalogId: owner })).embedding?.content).toBe("Table: private");
  });
});

describe("a caller's deadline or cancel", () => {
  /** An embedder that ignores its signal but only returns once the call's signal was aborted. */
  function embedderReturningAfterAbort() {
    const inner = createLocalEmbedder({ dimensions: DIMENSIONS });
    const entered = deferred();
    const embedder: Embedder = {
      name: inner.name,
      model: inner.model,
      dimensions: inner.dimensions,
      relevanceFloor: inner.relevanceFloor,
      countTokens: (text) => inner.countTokens(text),
      async embed(inputs, options) {
        entered.resolve();
        const signal = options?.signal;
        if (signal !== undefined && !signal.aborted) {
          await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
        }
        return inner.embed(inputs, {});
      },
    };
    return { embedder, entered };
  }

  async function handledCode(app: TestApp): Promise<string | undefined> {
    // The handler finishes after its signal aborts; wait for its line in the metrics (no timing involved).
    for (;;) {
      const match = (await app.metricsText()).match(/grpc_method="UpsertEmbedding",grpc_code="([A-Za-z]+)"\} 1/);
      if (match !== null) {
        return match[1];
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  it.each([
    ["deadline", "DeadlineExceeded", Code.DeadlineExceeded],
    ["cancel", "Canceled", Code.Canceled],
  ] as const)(
    "a %s is %s in the answer and the metrics (not UNAVAILABLE), and leaves nothing written",
    async (kind, metricCode, code) => {
      const { embedder, entered } = embedderReturningAfterAbort();
      const app = await startControlledApp({}, { embedder });
      try {
        const catalogId = randomUUID();
        const id = randomUUID();
        const abort = new AbortController();
        // The deadline travels as the grpc-timeout header only, so the server's deadline (not a client
        // reset) ends the call; the cancel is the client resetting the stream.
        const call = outcome(
          app.embeddings.upsertEmbedding(
            { embedding: { id, catalogId, kind: "table", content: "Table: late" } },
            kind === "deadline" ? { headers: { "grpc-timeout": "200m" } } : { signal: abort.signal },
          ),
        );
        await entered.promise;
        abort.abort();
        const result = await call;
        expect(!result.ok && result.error.code).toBe(code);
        expect(await handledCode(app)).toBe(metricCode);
        expect(await app.running.metadata.getRows([id])).toEqual([]);
        expect(await app.running.vectors.get([id])).toEqual([]);
        expect(await app.running.metadata.countIntents()).toBe(0);
      } finally {
        await app.stop();
      }
    },
  );
});

// Racing writers need several connections; PGlite serializes everything on one, so these need a server.
const target = testDatabaseTarget();
describe.skipIf(target.kind !== "postgres")("racing writers (real Postgres)", () => {
  const control: Control = {};
  let app: TestApp;
  let admin: Awaited<ReturnType<typeof createPostgresPool>>;

  beforeAll(async () => {
    app = await startControlledApp(control);
    admin = await createPostgresPool({ url: app.running.postgresUrl, maximumPoolSize: 1, logger });
  });

  afterAll(async () => {
    await admin?.end();
    await app?.stop();
  });

  /** Resolves once `count` sessions wait for an advisory lock: the racing call is queued behind the lock. */
  async function lockWaiters(count: number): Promise<void> {
    for (;;) {
      const waiting = await admin.oneFirst(
        sql.unsafe`SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`,
      );
      if (Number(waiting) >= count) {
        return;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  function blockAt(op: WriteOp, step: WriteStep) {
    const block = { op, step, reached: deferred(), release: deferred() };
    control.block = block;
    return block;
  }

  it("racing creates of one id from two catalogs: exactly one is acknowledged, the other FAILED_PRECONDITION", async () => {
    for (let round = 0; round < 10; round++) {
      const id = randomUUID();
      const [catalogA, catalogB] = [randomUUID(), randomUUID()];
      const calls = [catalogA, catalogB].map((catalogId) =>
        outcome(
          app.embeddings.upsertEmbedding({
            embedding: { id, catalogId, kind: "table", content: `Table: ${catalogId}`, vector: vectorOf(round) },
          }),
        ),
      );
      const results = await Promise.all(calls);
      const winners = results.flatMap((result, index) => (result.ok ? [[catalogA, catalogB][index]] : []));
      expect(winners).toHaveLength(1);
      const loser = results.find((result) => !result.ok);
      expect(loser?.ok === false && loser.error.code).toBe(Code.FailedPrecondition);
      expect(loser?.ok === false && loser.error.rawMessage).toContain(id);
      const [row] = await app.running.metadata.getRows([id]);
      const [point] = await app.running.vectors.get([id]);
      expect([row.catalogId, point.payload.catalog_id]).toEqual([winners[0], winners[0]]);
    }
  });

  it("a create held half-way keeps the racing create of another catalog waiting, which then fails", async () => {
    const id = randomUUID();
    const [catalogA, catalogB] = [randomUUID(), randomUUID()];
    const block = blockAt("upsert", "vectors-applied");
    const first = outcome(
      app.embeddings.upsertEmbedding({
        embedding: { id, catalogId: catalogA, kind: "table", content: "Table: a", vector: vectorOf(1) },
      }),
    );
    await block.reached.promise;
    const second = outcome(
      app.embeddings.upsertEmbedding({
        embedding: { id, catalogId: catalogB, kind: "table", content: "Table: b", vector: vectorOf(2) },
      }),
    );
    await lockWaiters(1);
    block.release.resolve();
    const [a, b] = await Promise.all([first, second]);
    expect(a.ok).toBe(true);
    expect(!b.ok && b.error.code).toBe(Code.FailedPrecondition);
    const [point] = await app.running.vectors.get([id]);
    expect(point.payload.catalog_id).toBe(catalogA);
    await expectConverged(app, catalogA);
  });

  it("upsert vs status change: the status change is not undone by the upsert that was planned before it", async () => {
    const catalogId = randomUUID();
    const id = randomUUID();
    await app.embeddings.upsertEmbedding({
      embedding: { id, catalogId, kind: "table", content: "Table: v1", vector: vectorOf(1) },
    });
    const block = blockAt("upsert", "intent-recorded");
    const upsert = outcome(
      app.embeddings.upsertEmbedding({
        embedding: { id, catalogId, kind: "table", content: "Table: v2", vector: vectorOf(2) },
      }),
    );
    await block.reached.promise;
    const status = outcome(
      app.embeddings.updateEmbeddingStatus({ ids: [id], catalogId, status: EmbeddingStatus.REJECTED }),
    );
    await lockWaiters(1);
    block.release.resolve();
    const [u, s] = await Promise.all([upsert, status]);
    expect([u.ok, s.ok]).toEqual([true, true]);
    const [row] = await app.running.metadata.getRows([id]);
    const [point] = await app.running.vectors.get([id], { withVector: true });
    expect([row.content, row.status, point.payload.status, point.payload.content_hash]).toEqual([
      "Table: v2",
      "rejected",
      "rejected",
      row.contentHash,
    ]);
    await expectConverged(app, catalogId);
  });

  it("upsert vs delete: the delete queued behind the upsert removes both row and point", async () => {
    const catalogId = randomUUID();
    const id = randomUUID();
    await app.embeddings.upsertEmbedding({
      embedding: { id, catalogId, kind: "table", content: "Table: v1", vector: vectorOf(1) },
    });
    const block = blockAt("upsert", "vectors-applied");
    const upsert = outcome(
      app.embeddings.upsertEmbedding({
        embedding: { id, catalogId, kind: "table", content: "Table: v2", vector: vectorOf(2) },
      }),
    );
    await block.reached.promise;
    const deletion = outcome(app.embeddings.deleteEmbedding({ id, catalogId }));
    await lockWaiters(1);
    block.release.resolve();
    const [u, d] = await Promise.all([upsert, deletion]);
    expect([u.ok, d.ok]).toEqual([true, true]);
    expect(await app.running.metadata.getRows([id])).toEqual([]);
    expect(await app.running.vectors.get([id])).toEqual([]);
    await expectConverged(app, catalogId);
  });

  it("two catalog syncs of one catalog: the catalog ends as exactly the later upload, not the union", async () => {
    const catalogId = randomUUID();
    const upload = (tables: string[]) => ({
      catalogId,
      catalog: {
        schemas: [
          {
            name: "public",
            tables: tables.map((name) => ({ name, columns: [{ name: "id", type: "int", primaryKey: true }] })),
          },
        ],
      },
    });
    const block = blockAt("upsert", "intent-recorded");
    const first = outcome(app.embeddings.createEmbeddingsForCatalog(upload(["alpha", "beta"])));
    await block.reached.promise;
    const second = outcome(app.embeddings.createEmbeddingsForCatalog(upload(["gamma"])));
    await lockWaiters(1);
    block.release.resolve();
    const [a, b] = await Promise.all([first, second]);
    expect([a.ok, b.ok]).toEqual([true, true]);
    const tables = new Set(
      (await app.running.metadata.listRows({ catalogId, limit: 100 })).map((row) => row.tableName),
    );
    expect([...tables]).toEqual(["gamma"]);
    await expectConverged(app, catalogId);
  });

  it("reconcile vs a writer: a write in progress is skipped, not repaired; afterwards there is no drift", async () => {
    const catalogId = randomUUID();
    const id = randomUUID();
    const block = blockAt("upsert", "vectors-applied");
    const write = outcome(
      app.embeddings.upsertEmbedding({
        embedding: { id, catalogId, kind: "table", content: "Table: busy", vector: vectorOf(6) },
      }),
    );
    await block.reached.promise;
    // The point is in Qdrant, the row not yet in Postgres: an orphan to a naive reconcile.
    expect(await app.running.vectors.get([id])).toHaveLength(1);
    const during = await app.embeddings.reconcileEmbeddings({ catalogId, repair: true });
    expect([during.pointsWithoutRows, during.repairedCount]).toEqual([0n, 0n]);
    expect(await app.running.vectors.get([id])).toHaveLength(1);
    block.release.resolve();
    expect((await write).ok).toBe(true);
    await expectConverged(app, catalogId);
    expect(await app.running.metadata.getRows([id])).toHaveLength(1);
  });
});
