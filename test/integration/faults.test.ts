import { randomUUID } from "node:crypto";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { failure } from "../helpers/grpc-status.js";
import { createRestartableQdrant } from "../helpers/restartable-qdrant.js";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";
import { createPgliteTestDatabase } from "../helpers/test-database.js";

function healthOf(app: TestApp) {
  const health = createClient(Health, createGrpcTransport({ baseUrl: app.baseUrl }));
  return async (service = "dq.embeddings.v1.EmbeddingService") => (await health.check({ service })).status;
}

describe("Qdrant going away", () => {
  let qdrant: Awaited<ReturnType<typeof createRestartableQdrant>>;
  let stopBeforeNextUpsert = false;
  let app: TestApp;

  beforeAll(async () => {
    qdrant = await createRestartableQdrant();
    await qdrant.start();
    app = await startTestApp({
      env: qdrant.env,
      overrides: {
        // Stops the vector store between the two writes: after the Postgres statement, before Qdrant.
        wrapVectorStore: (store) => ({
          ...store,
          async upsert(points, options) {
            if (stopBeforeNextUpsert) {
              stopBeforeNextUpsert = false;
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

  it("a write whose second store fails is UNAVAILABLE and leaves neither the row nor the point; a retry succeeds", async () => {
    const id = randomUUID();
    const catalogId = randomUUID();
    const embedding = { id, catalogId, kind: "table", content: "Table: half_written" };
    stopBeforeNextUpsert = true;
    const error = await failure(app.embeddings.upsertEmbedding({ embedding }));
    expect(error?.code).toBe(Code.Unavailable);
    expect(error?.rawMessage).toMatch(/qdrant unavailable/);
    expect(await app.running.metadata.getRows([id])).toEqual([]);

    await qdrant.start();
    expect(await app.running.vectors.get([id])).toEqual([]);
    // Idempotent by id: the client simply retries.
    const retried = await app.embeddings.upsertEmbedding({ embedding });
    expect(retried.embedding?.id).toBe(id);
    expect(await app.running.metadata.getRows([id])).toHaveLength(1);
    expect(await app.running.vectors.get([id])).toHaveLength(1);
  });

  it("health is NOT_SERVING while Qdrant is down, calls get UNAVAILABLE, and both recover when it returns", async () => {
    const status = healthOf(app);
    // The previous test restarted Qdrant: readiness sees it back within one check interval.
    await vi.waitFor(async () => expect(await status()).toBe(HealthCheckResponse_ServingStatus.SERVING), {
      timeout: 10_000,
      interval: 50,
    });
    await qdrant.stop();
    await vi.waitFor(async () => expect(await status("")).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING), {
      timeout: 10_000,
      interval: 50,
    });
    const error = await failure(
      app.retrieval.searchEmbeddings({ catalogId: randomUUID(), query: { case: "text", value: "anything" } }),
    );
    expect(error?.code).toBe(Code.Unavailable);
    expect(await app.metricsText()).toContain('dq_dependency_up{dependency="qdrant"} 0');

    await qdrant.start();
    await vi.waitFor(async () => expect(await status()).toBe(HealthCheckResponse_ServingStatus.SERVING), {
      timeout: 10_000,
      interval: 50,
    });
    const found = await app.retrieval.searchEmbeddings({
      catalogId: randomUUID(),
      query: { case: "text", value: "anything" },
    });
    expect(found.hits).toEqual([]);
  });
});

describe("Postgres going away", () => {
  it("calls get UNAVAILABLE and health turns NOT_SERVING", async () => {
    const database = await createPgliteTestDatabase();
    const app = await startTestApp({ database });
    try {
      const status = healthOf(app);
      expect(await status("")).toBe(HealthCheckResponse_ServingStatus.SERVING);
      await database.drop();
      const error = await failure(
        app.embeddings.upsertEmbedding({
          embedding: { id: randomUUID(), catalogId: randomUUID(), kind: "table", content: "Table: t" },
        }),
      );
      expect(error?.code).toBe(Code.Unavailable);
      expect(error?.rawMessage).toMatch(/postgres unavailable/);
      await vi.waitFor(async () => expect(await status("")).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING), {
        timeout: 10_000,
        interval: 50,
      });
    } finally {
      await app.stop();
    }
  });
});
