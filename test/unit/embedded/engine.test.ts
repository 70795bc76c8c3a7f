import { create } from "@bufbuild/protobuf";
import { CreateCollectionSchema, DeleteCollectionSchema, Distance, UpsertPointsSchema } from "@qdrant/js-client-grpc";
import { describe, expect, it } from "vitest";
import { Engine } from "../../../src/embedded/qdrant/engine.js";
import { UPSERT_SLICE } from "../../../src/embedded/qdrant/storage.js";

const createMutation = (name: string) => ({
  kind: "createCollection" as const,
  request: create(CreateCollectionSchema, {
    collectionName: name,
    vectorsConfig: { config: { case: "params", value: { size: 2n, distance: Distance.Dot } } },
  }),
});

describe("engine", () => {
  it("records only mutations that changed state", async () => {
    const engine = new Engine();
    const recorded: string[] = [];
    engine.attach({ record: async (m) => void recorded.push(m.kind) });
    await engine.execute(createMutation("a"), true);
    await expect(engine.execute(createMutation("a"), true)).rejects.toThrow(/already exists/);
    await engine.execute(
      { kind: "deleteCollection", request: create(DeleteCollectionSchema, { collectionName: "nope" }) },
      true,
    );
    expect(recorded).toEqual(["createCollection"]);
  });

  it("refuses further writes once the journal could not record one", async () => {
    const engine = new Engine();
    engine.attach({
      record: () => {
        throw new Error("ENOSPC: no space left on device");
      },
    });
    await expect(engine.execute(createMutation("a"), true)).rejects.toThrow(/could not write the update log \(ENOSPC/);
    await expect(engine.execute(createMutation("b"), false)).rejects.toThrow(/could not write the update log/);
    expect(engine.storage.collections.has("b")).toBe(false);
  });

  it("refuses further writes once a durable sync failed", async () => {
    const engine = new Engine();
    engine.attach({
      record: (_m, durable) => (durable ? Promise.reject(new Error("EIO: i/o error")) : Promise.resolve()),
    });
    await expect(engine.execute(createMutation("a"), true)).rejects.toThrow(/could not write the update log \(EIO/);
    await expect(engine.execute(createMutation("b"), false)).rejects.toThrow(/could not write the update log/);
  });
});

describe("engine with large upserts", () => {
  const upsert = (from: number, count: number, bad?: number) => ({
    kind: "upsert" as const,
    request: create(UpsertPointsSchema, {
      collectionName: "a",
      points: Array.from({ length: count }, (_, k) => ({
        id: { pointIdOptions: { case: "num" as const, value: BigInt(from + k) } },
        vectors: {
          vectorsOptions: { case: "vector" as const, value: { data: from + k === bad ? [1] : [1, from + k] } },
        },
      })),
    }),
  });

  it("applies a large upsert in slices, letting other work run in between, and queues later writes", async () => {
    const engine = new Engine();
    const recorded: string[] = [];
    engine.attach({ record: async (m) => void recorded.push(m.kind) });
    await engine.execute(createMutation("a"), true);
    const points = UPSERT_SLICE * 4;
    const large = engine.execute(upsert(1, points), false);
    const small = engine.execute(upsert(points + 1, 1), false);
    // While the large upsert is applied, the event loop runs other callbacks (a health check here).
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      seen.push(engine.storage.resolve("a").pointsCount);
    }
    await Promise.all([large, small]);
    expect(seen.some((count) => count < points)).toBe(true);
    expect(engine.storage.resolve("a").pointsCount).toBe(points + 1);
    // The small upsert queued behind the large one: applied and recorded after it.
    expect(recorded).toEqual(["createCollection", "upsert", "upsert"]);
    expect(engine.storage.resolve("a").nextOperationId).toBe(2n);
  });

  it("writes none of a large upsert whose last point is bad, and records nothing", async () => {
    const engine = new Engine();
    const recorded: string[] = [];
    engine.attach({ record: async (m) => void recorded.push(m.kind) });
    await engine.execute(createMutation("a"), true);
    const points = UPSERT_SLICE * 3;
    await expect(engine.execute(upsert(1, points, points), false)).rejects.toThrow(/dimension error/);
    expect(engine.storage.resolve("a").pointsCount).toBe(0);
    expect(recorded).toEqual(["createCollection"]);
    await engine.execute(upsert(1, 2), false);
    expect(engine.storage.resolve("a").nextOperationId).toBe(1n);
  });
});
