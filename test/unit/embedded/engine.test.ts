import { create } from "@bufbuild/protobuf";
import { CreateCollectionSchema, DeleteCollectionSchema, Distance } from "@qdrant/js-client-grpc";
import { describe, expect, it } from "vitest";
import { Engine } from "../../../src/embedded/qdrant/engine.js";

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
