import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createCoreFixture, input, vectorOf } from "../../helpers/core-fixture.js";

// Reconcile on in-memory stores: drift is made by writing one store directly, so each case knows
// exactly what it should find and what repair should leave.

async function seeded() {
  const core = createCoreFixture();
  const catalogId = randomUUID();
  const ids = [randomUUID(), randomUUID(), randomUUID()];
  await core.ingest.upsert(ids.map((id) => input(catalogId, id)));
  return { core, catalogId, ids };
}

describe("reconcile", () => {
  it("finds nothing in stores that agree", async () => {
    const { core, catalogId } = await seeded();
    expect(await core.reconcile.reconcile({ catalogId, repair: false })).toMatchObject({
      rowsScanned: 3,
      pointsScanned: 3,
      rowsWithoutPoints: 0,
      pointsWithoutRows: 0,
      mismatchedPoints: 0,
    });
  });

  it("reports each kind of drift without repair, and changes nothing", async () => {
    const { core, catalogId, ids } = await seeded();
    await core.points.delete([ids[0]]);
    await core.points.setStatus([ids[1]], "rejected");
    const orphan = randomUUID();
    await core.points.upsert([{ ...core.points.points.get(ids[2])!, id: orphan, vector: vectorOf("orphan") }]);
    const result = await core.reconcile.reconcile({ catalogId, repair: false });
    expect(result).toMatchObject({ rowsWithoutPoints: 1, pointsWithoutRows: 1, mismatchedPoints: 1, repaired: 0 });
    expect(new Set(result.sampleIds)).toEqual(new Set([ids[0], ids[1], orphan]));
    expect(core.points.points.has(ids[0])).toBe(false);
    expect(core.points.points.has(orphan)).toBe(true);
  });

  it("repairs: re-embeds a lost point from its row, rewrites a wrong payload keeping its vector, deletes an orphan", async () => {
    const { core, catalogId, ids } = await seeded();
    // As the store held them: it keeps vectors normalized, which may move a last bit of vectorOf's.
    const lost = Float32Array.from(core.points.points.get(ids[0])!.vector!);
    const kept = Float32Array.from(core.points.points.get(ids[1])!.vector!);
    await core.points.delete([ids[0]]);
    await core.points.setStatus([ids[1]], "rejected");
    const orphan = randomUUID();
    await core.points.upsert([{ ...core.points.points.get(ids[2])!, id: orphan, vector: vectorOf("orphan") }]);
    const result = await core.reconcile.reconcile({ catalogId, repair: true });
    expect(result).toMatchObject({ repaired: 3, unrepairable: 0 });
    // Re-embedded from the row's content: the vector it had before it was lost.
    expect(Array.from(core.points.points.get(ids[0])?.vector ?? [])).toEqual(Array.from(lost));
    expect(core.points.points.get(ids[1])?.payload.status).toBe("pending");
    expect(Array.from(core.points.points.get(ids[1])?.vector ?? [])).toEqual(Array.from(kept));
    expect(core.points.points.has(orphan)).toBe(false);
    expect(await core.reconcile.reconcile({ catalogId, repair: false })).toMatchObject({
      rowsWithoutPoints: 0,
      pointsWithoutRows: 0,
      mismatchedPoints: 0,
    });
  });

  it("never replaces a caller's precomputed vector: a lost one is counted unrepairable", async () => {
    const core = createCoreFixture();
    const catalogId = randomUUID();
    const id = randomUUID();
    await core.ingest.upsert([input(catalogId, id, { vector: vectorOf("the caller's own") })]);
    await core.points.delete([id]);
    const before = core.embedded.length;
    const result = await core.reconcile.reconcile({ catalogId, repair: true });
    expect(result).toMatchObject({ rowsWithoutPoints: 1, unrepairable: 1, repaired: 0 });
    expect(core.embedded.length).toBe(before);
    expect(core.points.points.has(id)).toBe(false);
  });

  it("leaves an id alone while a write holds it, and judges it once the write is done", async () => {
    const { core, catalogId, ids } = await seeded();
    await core.points.delete([ids[0]]);
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked: () => void = () => undefined;
    const holding = new Promise<void>((resolve) => (locked = resolve));
    const writer = core.metadata.withLocks({ ids: [ids[0]] }, async () => {
      locked();
      await held;
    });
    await holding;
    expect(await core.reconcile.reconcile({ catalogId, repair: true })).toMatchObject({
      inProgress: 1,
      rowsWithoutPoints: 0,
      repaired: 0,
    });
    release();
    await writer;
    expect(await core.reconcile.reconcile({ catalogId, repair: true })).toMatchObject({
      inProgress: 0,
      rowsWithoutPoints: 1,
      repaired: 1,
    });
  });

  it("finishes a write that died between Qdrant and Postgres from its intent instead of calling it drift", async () => {
    let crash = false;
    const core = createCoreFixture({
      hooks: { at: (step) => (crash && step === "vectors-applied" ? "crash" : undefined) },
    });
    const catalogId = randomUUID();
    const id = randomUUID();
    await core.ingest.upsert([input(catalogId, id, { content: "first" })]);
    crash = true;
    await core.ingest.upsert([input(catalogId, id, { content: "second" })]).catch(() => undefined);
    crash = false;
    // The point already holds the update; the row and an intent still say where it was going.
    expect(core.metadata.committed.rows.get(id)?.content).toBe("first");
    expect(core.metadata.committed.intents.has(id)).toBe(true);
    const result = await core.reconcile.reconcile({ catalogId, repair: true });
    expect(result).toMatchObject({ repaired: 1, unrepairable: 0 });
    expect(core.metadata.committed.rows.get(id)?.content).toBe("second");
    expect(Array.from(core.points.points.get(id)?.vector ?? [])).toEqual(Array.from(vectorOf("second")));
    expect(core.metadata.committed.intents.size).toBe(0);
  });
});
