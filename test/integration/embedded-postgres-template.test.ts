/**
 * The prepared PGlite cluster (src/embedded/postgres-template.ts): made once in a cache directory,
 * atomically, and copied into each new data directory, which then needs neither initdb nor migrations.
 * The cache-mechanics tests use a stand-in for initdb (a directory with PG_VERSION) so a race between
 * two makers can be held open with a barrier; the rest run the real PGlite.
 */
import { lstat, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import { sql } from "slonik";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { migratedTemplate } from "../../src/backends/postgres.js";
import { createEmbeddedPostgres, EMBEDDED_POSTGRES_POOL_SIZE } from "../../src/embedded/postgres.js";
import { copyTemplate, ensureTemplate } from "../../src/embedded/postgres-template.js";
import { isSchemaCurrent, runMigrations } from "../../src/stores/migrations.js";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";
import { createPgliteTestDatabase } from "../helpers/test-database.js";

const logger = pino({ level: "silent" });

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "dq-template-test-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A stand-in for initdb: what `hasCluster` looks for, and one more file to copy. */
async function fakeCluster(dir: string): Promise<void> {
  await writeFile(join(dir, "PG_VERSION"), "17\n");
  await mkdir(join(dir, "base"));
  await writeFile(join(dir, "base", "1"), "relation");
}

function barrier(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

describe("the prepared cluster in the cache directory", () => {
  it("is made once when two starts race for it, leaving one whole template and no staging", async () => {
    const cacheDir = join(work, "race");
    const bothInitialising = barrier();
    let initialising = 0;
    const initialise = async (dir: string) => {
      if (++initialising === 2) bothInitialising.open();
      await bothInitialising.wait;
      await fakeCluster(dir);
    };
    const made = await Promise.all([
      ensureTemplate({ cacheDir, name: "pglite-test", initialise, logger }),
      ensureTemplate({ cacheDir, name: "pglite-test", initialise, logger }),
    ]);
    expect(made[0].dir).toBe(join(cacheDir, "pglite-test"));
    expect(made[1].dir).toBe(made[0].dir);
    expect(await readdir(cacheDir)).toEqual(["pglite-test"]);
    expect((await readdir(made[0].dir)).sort()).toEqual(["PG_VERSION", "base", "dq-template.json"]);
    expect((await lstat(cacheDir)).mode & 0o777).toBe(0o700);

    // From now on it is used as it is.
    const again = await ensureTemplate({
      cacheDir,
      name: "pglite-test",
      initialise: () => Promise.reject(new Error("must not initialise again")),
      logger,
    });
    expect(again).toEqual({ dir: made[0].dir, made: false });
  });

  it("remakes a directory that lacks the marker (a copy cut short), and prunes what went unused", async () => {
    const cacheDir = join(work, "leftovers");
    const leftover = join(cacheDir, "pglite-test");
    await mkdir(leftover, { recursive: true });
    await writeFile(join(leftover, "PG_VERSION"), "17\n");
    // Another template last used two months ago, one used today, and a maker's abandoned staging.
    const old = join(cacheDir, "pglite-0.0.1");
    const recent = join(cacheDir, "pglite-0.0.2");
    const abandoned = join(cacheDir, ".pglite-test-0123456789ab");
    for (const dir of [old, recent, abandoned]) {
      await mkdir(dir);
      await fakeCluster(dir);
      await writeFile(join(dir, "dq-template.json"), JSON.stringify({ name: dir.split("/").at(-1) }));
    }
    const twoMonthsAgo = new Date(Date.now() - 60 * 24 * 3600 * 1000);
    await utimes(join(old, "dq-template.json"), twoMonthsAgo, twoMonthsAgo);
    await utimes(abandoned, twoMonthsAgo, twoMonthsAgo);

    const made = await ensureTemplate({ cacheDir, name: "pglite-test", initialise: fakeCluster, logger });
    expect(made).toEqual({ dir: leftover, made: true });
    expect((await readdir(leftover)).sort()).toEqual(["PG_VERSION", "base", "dq-template.json"]);
    expect((await readdir(cacheDir)).sort()).toEqual(["pglite-0.0.2", "pglite-test"]);
  });

  it("is copied only into a missing or empty data directory, without its marker, or not at all", async () => {
    const cacheDir = join(work, "copies");
    const { dir } = await ensureTemplate({ cacheDir, name: "pglite-test", initialise: fakeCluster, logger });

    const missing = join(work, "copies-data", "missing");
    expect(await copyTemplate(dir, missing)).toBe(true);
    expect((await readdir(missing)).sort()).toEqual(["PG_VERSION", "base"]);
    const empty = join(work, "copies-data", "empty");
    await mkdir(empty);
    expect(await copyTemplate(dir, empty)).toBe(true);
    expect(await readdir(join(empty, "base"))).toEqual(["1"]);

    const used = join(work, "copies-data", "used");
    await mkdir(used);
    await writeFile(join(used, "mine"), "x");
    expect(await copyTemplate(dir, used)).toBe(false);
    expect(await readdir(used)).toEqual(["mine"]);

    // A copy that fails leaves no data directory and no staging behind.
    const failed = join(work, "copies-data", "failed");
    await expect(copyTemplate(join(cacheDir, "no-such-template"), failed)).rejects.toThrow(/ENOENT/);
    expect((await readdir(join(work, "copies-data"))).sort()).toEqual(["empty", "missing", "used"]);
  });
});

describe("an embedded Postgres on a new data directory, with the cache", () => {
  it("starts as a copy of the migrated cluster: the schema is current, and every file is private", async () => {
    const dataDir = join(work, "service", "postgres");
    const lines: Array<{ msg: string; cluster?: string }> = [];
    const recording: Logger = pino(
      { level: "info" },
      { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string; cluster?: string }) },
    );
    const embedded = createEmbeddedPostgres({
      dataDir,
      socketDir: join(work, "service", "run"),
      cacheDir: inject("dqPgliteCache"),
      prepareTemplate: await migratedTemplate(logger),
      sharedBuffers: "16MB",
      logger: recording,
    });
    const { url } = await embedded.start();
    try {
      expect(lines.find((line) => line.cluster !== undefined)?.cluster).toBe("template");
      const pool = await createPostgresPool({ url, maximumPoolSize: EMBEDDED_POSTGRES_POOL_SIZE, logger });
      try {
        expect(await isSchemaCurrent(pool)).toBe(true);
        const buffers = await pool.oneFirst(sql.type(z.object({ shared_buffers: z.string() }))`SHOW shared_buffers`);
        expect(buffers).toBe("16MB");
      } finally {
        await pool.end();
      }
    } finally {
      await embedded.stop();
    }
    const open: string[] = [];
    const walk = async (dir: string) => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (((await lstat(path)).mode & 0o077) !== 0) open.push(path);
        if (entry.isDirectory()) await walk(path);
      }
    };
    await walk(dataDir);
    expect(open).toEqual([]);
    expect(await readdir(dataDir)).not.toContain("dq-template.json");
  });

  it("isSchemaCurrent says no for a plain cluster and for a missing migration, yes once migrated", async () => {
    const database = await createPgliteTestDatabase({ migrated: false });
    const pool = await createPostgresPool({ url: database.url, maximumPoolSize: database.maximumPoolSize, logger });
    try {
      expect(await isSchemaCurrent(pool)).toBe(false);
      await runMigrations({ databaseUrl: database.url, logger });
      expect(await isSchemaCurrent(pool)).toBe(true);
      await pool.query(sql.unsafe`DELETE FROM pgmigrations WHERE id = (SELECT max(id) FROM pgmigrations)`);
      expect(await isSchemaCurrent(pool)).toBe(false);
    } finally {
      await pool.end();
      await database.drop();
    }
  });
});
