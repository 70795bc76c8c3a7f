import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { UnavailableError } from "../../../src/core/errors.js";
import { createCoreFixture, input, vectorOf } from "../../helpers/core-fixture.js";

describe("bulk delete", () => {
  it("a dry run counts and samples the catalog and deletes nothing", async () => {
    const core = createCoreFixture();
    const catalogId = randomUUID();
    const ids = [randomUUID(), randomUUID()];
    await core.ingest.upsert(ids.map((id) => input(catalogId, id)));
    const result = await core.bulkDelete.deleteCatalog(catalogId, { force: false });
    expect(result).toMatchObject({ matched: 2, deleted: 0 });
    expect(new Set(result.sampleIds)).toEqual(new Set(ids));
    expect(core.metadata.committed.rows.size).toBe(2);
    expect(core.points.points.size).toBe(2);
  });

  it("deletes a catalog's rows and points, points without rows included, and nothing of another catalog", async () => {
    const core = createCoreFixture();
    const catalogId = randomUUID();
    const otherId = randomUUID();
    const ids = [randomUUID(), randomUUID()];
    await core.ingest.upsert([...ids.map((id) => input(catalogId, id)), input(randomUUID(), otherId)]);
    const orphan = randomUUID();
    await core.points.upsert([{ ...core.points.points.get(ids[0])!, id: orphan, vector: vectorOf("orphan") }]);
    expect(await core.bulkDelete.deleteCatalog(catalogId, { force: true })).toMatchObject({ matched: 2, deleted: 2 });
    expect([...core.metadata.committed.rows.keys()]).toEqual([otherId]);
    expect([...core.points.points.keys()]).toEqual([otherId]);
  });

  it("after Qdrant failed half-way, running it again finishes the job", async () => {
    const core = createCoreFixture();
    const catalogId = randomUUID();
    const ids = [randomUUID(), randomUUID()];
    await core.ingest.upsert(ids.map((id) => input(catalogId, id)));
    core.failing.add("delete");
    await expect(core.bulkDelete.deleteCatalog(catalogId, { force: true })).rejects.toBeInstanceOf(UnavailableError);
    // Postgres first: the rows are gone (nothing serves them), the points wait for the retry.
    expect(core.metadata.committed.rows.size).toBe(0);
    expect(core.points.points.size).toBe(2);
    core.failing.delete("delete");
    expect(await core.bulkDelete.deleteCatalog(catalogId, { force: true })).toMatchObject({ matched: 0 });
    expect(core.points.points.size).toBe(0);
    expect(core.metadata.committed.intents.size).toBe(0);
  });

  it("cleans up rejected embeddings only, and keeps one accepted after the page was listed", async () => {
    const core = createCoreFixture();
    const catalogId = randomUUID();
    const [rejected, reviewed, pending] = [randomUUID(), randomUUID(), randomUUID()];
    await core.ingest.upsert([
      input(catalogId, rejected, { status: "rejected" }),
      input(catalogId, reviewed, { status: "rejected" }),
      input(catalogId, pending),
    ]);
    // A reviewer accepts one of them between the listing of the page and its delete.
    const listRows = core.metadata.listRows.bind(core.metadata);
    let accepted = false;
    core.metadata.listRows = async (options) => {
      const page = await listRows(options);
      if (!accepted && page.length === 2 && options.afterId === undefined && options.limit > 10) {
        accepted = true;
        await core.metadata.updateStatus([reviewed], "accepted");
      }
      return page;
    };
    expect(await core.bulkDelete.cleanupRejected({ catalogId, dryRun: false })).toMatchObject({
      matched: 2,
      deleted: 1,
    });
    expect(new Set(core.metadata.committed.rows.keys())).toEqual(new Set([reviewed, pending]));
    expect(core.points.points.has(rejected)).toBe(false);
    expect(core.points.points.has(reviewed)).toBe(true);
  });
});
