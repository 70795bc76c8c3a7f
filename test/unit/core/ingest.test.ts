import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CancelledError, FailedPreconditionError, UnavailableError } from "../../../src/core/errors.js";
import { createCoreFixture, input, MODEL, vectorOf } from "../../helpers/core-fixture.js";

// Ingest's write order on in-memory stores: each case fails one step on purpose and checks what each
// store holds afterwards (core/write-path.ts lists the steps).

describe("ingest.upsert", () => {
  it("writes the point and the row, and answers unchanged without writing when the same content comes again", async () => {
    const core = createCoreFixture();
    const catalogId = randomUUID();
    const id = randomUUID();
    expect((await core.ingest.upsert([input(catalogId, id)])).outcomes).toEqual(["created"]);
    expect(core.metadata.committed.rows.get(id)?.model).toBe(MODEL);
    expect(Array.from(core.points.points.get(id)?.vector ?? [])).toEqual(
      Array.from(vectorOf(input(catalogId, id).content)),
    );
    const upserts = core.calls.filter((call) => call === "upsert").length;
    expect((await core.ingest.upsert([input(catalogId, id)])).outcomes).toEqual(["unchanged"]);
    expect(core.calls.filter((call) => call === "upsert").length).toBe(upserts);
    expect(core.embedded).toHaveLength(1);
    expect(core.metadata.committed.intents.size).toBe(0);
  });

  it("keeps serving the old row when Qdrant fails an update, and a retry once Qdrant is back finishes it", async () => {
    const core = createCoreFixture();
    const catalogId = randomUUID();
    const id = randomUUID();
    await core.ingest.upsert([input(catalogId, id, { content: "first" })]);

    core.failing.add("upsert");
    await expect(core.ingest.upsert([input(catalogId, id, { content: "second" })])).rejects.toBeInstanceOf(
      UnavailableError,
    );
    // The intent records the update; the row (what retrieval reads) is still the acknowledged one.
    expect(core.metadata.committed.rows.get(id)?.content).toBe("first");
    expect(core.metadata.committed.intents.get(id)?.target?.content).toBe("second");

    core.failing.delete("upsert");
    // The retry first finishes the recorded update (forward, with its vector), then finds nothing to do.
    expect((await core.ingest.upsert([input(catalogId, id, { content: "second" })])).outcomes).toEqual(["unchanged"]);
    expect(core.metadata.committed.rows.get(id)?.content).toBe("second");
    expect(Array.from(core.points.points.get(id)?.vector ?? [])).toEqual(Array.from(vectorOf("second")));
    expect(core.metadata.committed.intents.size).toBe(0);
  });

  it("rolls a create whose Qdrant write failed back through the repairer: no row, no point, no intent", async () => {
    const core = createCoreFixture();
    const catalogId = randomUUID();
    const id = randomUUID();
    core.failing.add("upsert");
    await expect(core.ingest.upsert([input(catalogId, id)])).rejects.toBeInstanceOf(UnavailableError);
    expect(core.metadata.committed.rows.has(id)).toBe(false);
    expect(core.metadata.committed.intents.has(id)).toBe(true);

    core.failing.delete("upsert");
    expect(await core.repairer.runOnce()).toBe(1);
    expect(core.metadata.committed.rows.has(id)).toBe(false);
    expect(core.points.points.has(id)).toBe(false);
    expect(core.metadata.committed.intents.size).toBe(0);
  });

  it("writes nothing when the caller cancels before the intent is recorded", async () => {
    const core = createCoreFixture();
    const controller = new AbortController();
    controller.abort();
    await expect(
      core.ingest.upsert([input(randomUUID(), randomUUID())], { signal: controller.signal }),
    ).rejects.toBeInstanceOf(CancelledError);
    expect(core.metadata.committed.rows.size).toBe(0);
    expect(core.points.points.size).toBe(0);
    expect(core.metadata.committed.intents.size).toBe(0);
  });

  it("finishes a write whose caller cancels after its intent is recorded", async () => {
    const controller = new AbortController();
    const core = createCoreFixture({
      hooks: {
        at: (step) => {
          if (step === "intent-recorded") controller.abort();
        },
      },
    });
    const id = randomUUID();
    await core.ingest.upsert([input(randomUUID(), id)], { signal: controller.signal }).catch(() => undefined);
    expect(controller.signal.aborted).toBe(true);
    expect(core.metadata.committed.rows.has(id)).toBe(true);
    expect(core.points.points.has(id)).toBe(true);
    expect(core.metadata.committed.intents.size).toBe(0);
  });

  it("refuses an id another catalog holds, and leaves that catalog's row and point as they were", async () => {
    const core = createCoreFixture();
    const owner = randomUUID();
    const id = randomUUID();
    await core.ingest.upsert([input(owner, id, { content: "owner's" })]);
    await expect(core.ingest.upsert([input(randomUUID(), id, { content: "intruder's" })])).rejects.toBeInstanceOf(
      FailedPreconditionError,
    );
    expect(core.metadata.committed.rows.get(id)?.content).toBe("owner's");
    expect(core.points.points.get(id)?.payload.catalog_id).toBe(owner);
    expect(core.metadata.committed.intents.size).toBe(0);
  });
});

describe("ingest.deleteMany and updateStatus", () => {
  it("deletes the rows first; when Qdrant fails, the repairer deletes the points left behind", async () => {
    const core = createCoreFixture();
    const catalogId = randomUUID();
    const ids = [randomUUID(), randomUUID()];
    await core.ingest.upsert(ids.map((id) => input(catalogId, id)));
    core.failing.add("delete");
    await expect(core.ingest.deleteMany(ids, { catalogId })).rejects.toBeInstanceOf(UnavailableError);
    expect(ids.map((id) => core.metadata.committed.rows.has(id))).toEqual([false, false]);
    expect(ids.map((id) => core.points.points.has(id))).toEqual([true, true]);

    core.failing.delete("delete");
    expect(await core.repairer.runOnce()).toBe(2);
    expect(ids.map((id) => core.points.points.has(id))).toEqual([false, false]);
    expect(core.metadata.committed.intents.size).toBe(0);
  });

  it("sets the row's status first; a point missing in Qdrant does not fail the update", async () => {
    const core = createCoreFixture();
    const catalogId = randomUUID();
    const id = randomUUID();
    await core.ingest.upsert([input(catalogId, id)]);
    await core.points.delete([id]);
    expect(await core.ingest.updateStatus([id], "rejected", { catalogId })).toEqual({ updated: [id], missing: [] });
    expect(core.metadata.committed.rows.get(id)?.status).toBe("rejected");
    expect(core.metadata.committed.intents.size).toBe(0);
  });
});
