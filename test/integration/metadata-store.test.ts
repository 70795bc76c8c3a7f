import { randomUUID } from "node:crypto";
import net from "node:net";
import pg from "pg";
import { pino } from "pino";
import { sql, type DatabasePool } from "slonik";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailedPreconditionError, InvalidArgumentError, UnavailableError } from "../../src/core/errors.js";
import type { EmbeddingRowInput, EmbeddingStatus } from "../../src/core/types.js";
import type { MetadataStore } from "../../src/stores/metadata-store.js";
import { createPostgresMetadataStore } from "../../src/stores/postgres-metadata-store.js";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";
import {
  createPgliteTestDatabase,
  createTestDatabase,
  testDatabaseTarget,
  type TestDatabase,
  type TestDatabaseKind,
} from "../helpers/test-database.js";

const logger = pino({ level: "silent" });

function row(catalogId: string, overrides: Partial<EmbeddingRowInput> = {}): EmbeddingRowInput {
  const id = overrides.id ?? randomUUID();
  return {
    id,
    catalogId,
    kind: "table",
    content: `Table: users ${id}`,
    metadata: {
      schema: "public",
      columns: ["id", "email"],
      nested: { rows: 42, ratio: 0.5, flag: true, none: null },
      text: "zażółć 表",
    },
    schemaName: "public",
    tableName: "users",
    status: "pending",
    contentHash: `hash-${id}`,
    model: "text-embedding-3-large",
    qdrantPointId: id,
    ...overrides,
  };
}

/** One suite, run against every Postgres we have (the way Slonik runs one suite per driver). */
function describeMetadataStore(name: string, kind: TestDatabaseKind, factory: () => Promise<TestDatabase>): void {
  describe(`metadata store on ${name}`, () => {
    let database: TestDatabase;
    let pool: DatabasePool;
    let store: MetadataStore;

    beforeAll(async () => {
      database = await factory();
      expect(database.kind).toBe(kind);
      pool = await createPostgresPool({ url: database.url, maximumPoolSize: database.maximumPoolSize, logger });
      store = createPostgresMetadataStore({ pool, logger });
    });

    afterAll(async () => {
      await pool?.end();
      await database?.drop();
    });

    it("answers ping once migrated", async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it("round-trips rows, jsonb metadata included, in the order asked for, in one catalog", async () => {
      const catalogId = randomUUID();
      const otherCatalog = randomUUID();
      const first = row(catalogId);
      const second = row(catalogId, {
        schemaName: null,
        tableName: null,
        metadata: {},
        kind: "column",
        status: "accepted",
        qdrantPointId: null,
      });
      const foreign = row(otherCatalog);

      const written = await store.upsertRows([first, second, foreign]);
      expect(new Set(written)).toEqual(new Set([first.id, second.id, foreign.id]));

      const rows = await store.getRows([second.id, randomUUID(), first.id, "not-a-uuid", foreign.id], { catalogId });
      expect(rows.map((stored) => stored.id)).toEqual([second.id, first.id]);
      const [storedSecond, storedFirst] = rows;
      const { createdAt, updatedAt, ...firstFields } = storedFirst;
      expect(firstFields).toEqual(first);
      expect(storedFirst.metadata).toEqual({
        schema: "public",
        columns: ["id", "email"],
        nested: { rows: 42, ratio: 0.5, flag: true, none: null },
        text: "zażółć 表",
      });
      expect(typeof createdAt).toBe("number");
      expect(updatedAt).toBeGreaterThanOrEqual(createdAt);
      expect(storedSecond).toMatchObject({
        schemaName: null,
        tableName: null,
        metadata: {},
        kind: "column",
        status: "accepted",
        qdrantPointId: null,
      });

      expect((await store.getRows([foreign.id])).map((stored) => stored.catalogId)).toEqual([otherCatalog]);
      expect(await store.getRows([])).toEqual([]);
    });

    it("keeps created_at and moves updated_at when a row is overwritten", async () => {
      const catalogId = randomUUID();
      const original = row(catalogId);
      await store.upsertRows([original]);
      // Test set-up only: age the row by a day, so "kept" and "moved" cannot pass by accident.
      await pool.query(
        sql.unsafe`UPDATE dq_embeddings SET created_at = now() - interval '1 day', updated_at = now() - interval '1 day' WHERE id = ${original.id}`,
      );
      const [aged] = await store.getRows([original.id]);

      await store.upsertRows([
        { ...original, content: "Table: users (renamed)", contentHash: "hash-2", metadata: { replaced: true } },
      ]);
      const [updated] = await store.getRows([original.id]);
      expect(updated.createdAt).toBe(aged.createdAt);
      expect(updated.updatedAt - aged.updatedAt).toBeGreaterThan(12 * 3600 * 1000);
      expect(updated).toMatchObject({
        content: "Table: users (renamed)",
        contentHash: "hash-2",
        metadata: { replaced: true },
      });
    });

    it("keeps the last row when a batch names an id twice", async () => {
      const catalogId = randomUUID();
      const first = row(catalogId);
      const written = await store.upsertRows([first, { ...first, content: "second version" }]);
      expect(written).toEqual([first.id]);
      expect((await store.getRows([first.id]))[0].content).toBe("second version");
    });

    it("rejects a row whose id is not a UUID, writing nothing", async () => {
      const catalogId = randomUUID();
      const good = row(catalogId);
      await expect(store.upsertRows([good, row(catalogId, { id: "nope" })])).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
      expect(await store.getRows([good.id])).toEqual([]);
    });

    it("reads a context's rows: the hits, and the named tables' table and key-column chunks, once each", async () => {
      const catalogId = randomUUID();
      const chunk = (tableName: string, kind: string, metadata: Record<string, unknown>, status?: EmbeddingStatus) =>
        row(catalogId, { tableName, kind, metadata: { origin: "catalog", ...metadata }, status: status ?? "pending" });
      const singer = chunk("singer", "table", {});
      const singerId = chunk("singer", "column", { column: "singer_id", primaryKey: true });
      const singerAge = chunk("singer", "column", { column: "age" });
      const singerRef = chunk("singer", "column", { column: "stadium_id", references: { table: "stadium" } });
      const singerRejected = chunk("singer", "column", { column: "old_id", primaryKey: true }, "rejected");
      const byHand = row(catalogId, { tableName: "singer", kind: "table", metadata: {} });
      const stadium = chunk("stadium", "table", {});
      const stadiumName = chunk("stadium", "column", { column: "name" });
      const concert = chunk("concert", "table", {});
      const elsewhere = row(randomUUID(), { tableName: "singer", kind: "table", metadata: { origin: "catalog" } });
      const all = [singer, singerId, singerAge, singerRef, singerRejected, byHand, stadium, stadiumName, concert];
      await store.upsertRows([...all, elsewhere]);
      const ids = (rows: readonly { id: string }[]) => rows.map((entry) => entry.id).sort();

      const found = await store.getContextRows(catalogId, {
        ids: [singerAge.id, stadiumName.id, singer.id, elsewhere.id, singerRejected.id],
        tables: [{ schema: "public", table: "singer" }],
      });
      // Hits of this catalog that are not rejected, plus singer's own table and key-column chunks (a hit
      // that is also one of those comes once); not the hand-written chunk, nor another catalog's.
      expect(ids(found)).toEqual(ids([singerAge, stadiumName, singer, singerId, singerRef]));
      expect(
        ids(await store.getContextRows(catalogId, { ids: [], tables: [{ schema: "public", table: "stadium" }] })),
      ).toEqual(ids([stadium]));
      expect(ids(await store.getContextRows(catalogId, { ids: [concert.id], tables: [] }))).toEqual([concert.id]);
      expect(await store.getContextRows(catalogId, { ids: [], tables: [] })).toEqual([]);
    });

    it("reads a table's other listed columns for a context, up to a count, once each", async () => {
      const catalogId = randomUUID();
      const chunk = (kind: string, metadata: Record<string, unknown>, status: EmbeddingStatus = "pending") =>
        row(catalogId, { tableName: "country", kind, metadata: { origin: "catalog", ...metadata }, status });
      const names = ["code", "name", "continent", "region", "population", "capital"];
      const country = chunk("table", { columns: names.map((name) => ({ name })) });
      const [code, name, continent, region, population, capital] = names.map((column, index) =>
        chunk("column", { column, primaryKey: index === 0 }, column === "population" ? "rejected" : "pending"),
      );
      const unlisted = chunk("column", { column: "surface_area" });
      const byHand = row(catalogId, { tableName: "country", kind: "column", metadata: { column: "region" } });
      await store.upsertRows([country, code, name, continent, region, population, capital, unlisted, byHand]);
      const ids = (rows: readonly { id: string }[]) => rows.map((entry) => entry.id).sort();
      const found = await store.getContextRows(catalogId, {
        ids: [continent.id],
        tables: [{ schema: "public", table: "country" }],
        columnsOf: { tables: [{ schema: "public", table: "country" }], maxPerTable: 5 },
      });
      // The hit, the table and its key column, then the other catalog columns among the first five
      // listed (not the rejected one, not the sixth, not one the table does not list, not a hand-written one).
      expect(ids(found)).toEqual(ids([continent, country, code, name, region]));
      expect(found).toHaveLength(5);
      const alone = await store.getContextRows(catalogId, {
        ids: [],
        tables: [],
        columnsOf: { tables: [{ schema: "public", table: "country" }], maxPerTable: 100 },
      });
      expect(ids(alone)).toEqual(ids([name, continent, region, capital]));
    });

    it("deletes and returns only the ids that existed", async () => {
      const catalogId = randomUUID();
      const [kept, gone] = [row(catalogId), row(catalogId)];
      await store.upsertRows([kept, gone]);
      const deleted = await store.deleteRows([gone.id, randomUUID(), "not-a-uuid"]);
      expect(deleted).toEqual([gone.id]);
      expect(await store.deleteRows([gone.id])).toEqual([]);
      expect((await store.getRows([kept.id, gone.id])).map((stored) => stored.id)).toEqual([kept.id]);
    });

    it("pages through a catalog by id, every row exactly once", async () => {
      const catalogId = randomUUID();
      const otherCatalog = randomUUID();
      const rows = Array.from({ length: 23 }, () => row(catalogId));
      await store.upsertRows([...rows, ...Array.from({ length: 4 }, () => row(otherCatalog))]);

      const seen: string[] = [];
      let afterId: string | undefined;
      for (let page = 0; page < 10; page++) {
        const batch = await store.listRows({ catalogId, afterId, limit: 5 });
        expect(batch.length).toBeLessThanOrEqual(5);
        seen.push(...batch.map((stored) => stored.id));
        if (batch.length < 5) {
          break;
        }
        afterId = batch[batch.length - 1].id;
      }
      expect(seen).toEqual(rows.map((input) => input.id).sort());
      expect(seen.every((id) => rows.some((input) => input.id === id))).toBe(true);

      // Without a catalog, paging still visits every row once, ordered by id.
      const everything: string[] = [];
      afterId = undefined;
      for (;;) {
        const batch = await store.listRows({ afterId, limit: 50 });
        everything.push(...batch.map((stored) => stored.id));
        if (batch.length < 50) {
          break;
        }
        afterId = batch[batch.length - 1].id;
      }
      expect(new Set(everything).size).toBe(everything.length);
      expect([...everything].sort()).toEqual(everything);
      expect(everything.filter((id) => rows.some((input) => input.id === id))).toHaveLength(23);

      await expect(store.listRows({ catalogId, limit: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    });

    it("counts and lists by status, and updates status", async () => {
      const catalogId = randomUUID();
      const statuses: EmbeddingStatus[] = ["pending", "pending", "pending", "accepted", "rejected"];
      const rows = statuses.map((status) => row(catalogId, { status }));
      await store.upsertRows(rows);

      expect(await store.countRows({ catalogId })).toBe(5);
      expect(await store.countRows({ catalogId, status: "pending" })).toBe(3);
      expect(await store.countRows({ catalogId, status: "accepted" })).toBe(1);
      expect(await store.countRows({ catalogId: randomUUID() })).toBe(0);

      const missing = randomUUID();
      const updated = await store.updateStatus([rows[0].id, rows[1].id, missing], "accepted");
      expect(new Set(updated)).toEqual(new Set([rows[0].id, rows[1].id]));
      expect(await store.countRows({ catalogId, status: "pending" })).toBe(1);
      expect(await store.countRows({ catalogId, status: "accepted" })).toBe(3);
      const accepted = await store.listRows({ catalogId, status: "accepted", limit: 10 });
      expect(accepted.map((stored) => stored.id).sort()).toEqual([rows[0].id, rows[1].id, rows[3].id].sort());
    });

    it("rolls a failed transaction back and rethrows its error as-is", async () => {
      const catalogId = randomUUID();
      const rows = [row(catalogId), row(catalogId)];
      const failure = new Error("the vector store refused");
      await expect(
        store.transaction(async (tx) => {
          await tx.upsertRows(rows);
          expect(await tx.countRows({ catalogId })).toBe(2);
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(await store.countRows({ catalogId })).toBe(0);
      expect(await store.getRows(rows.map((input) => input.id))).toEqual([]);
    });

    it("commits a transaction, and a failed nested one rolls back only its own writes", async () => {
      const catalogId = randomUUID();
      const [outer, inner] = [row(catalogId), row(catalogId)];
      const result = await store.transaction(async (tx) => {
        await tx.upsertRows([outer]);
        await expect(
          tx.transaction(async (nested) => {
            await nested.upsertRows([inner]);
            throw new Error("inner failure");
          }),
        ).rejects.toThrow("inner failure");
        return tx.countRows({ catalogId });
      });
      expect(result).toBe(1);
      expect((await store.getRows([outer.id, inner.id])).map((stored) => stored.id)).toEqual([outer.id]);
    });

    it("reports UnavailableError when the server becomes unreachable, and recovers when it is back", async () => {
      const proxy = await startProxy(database.url);
      const proxiedPool = await createPostgresPool({
        url: proxy.url,
        maximumPoolSize: 1,
        logger,
        connectionTimeoutMs: 2_000,
      });
      try {
        const proxied = createPostgresMetadataStore({ pool: proxiedPool, logger });
        const catalogId = randomUUID();
        await proxied.upsertRows([row(catalogId)]);

        await proxy.close();
        const error = await proxied.countRows({ catalogId }).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(UnavailableError);
        expect((error as UnavailableError).dependency).toBe("postgres");
        expect((error as Error).message).not.toMatch(/select|dq_embeddings/i);
        await expect(proxied.upsertRows([row(catalogId)])).rejects.toBeInstanceOf(UnavailableError);
        await expect(proxied.ping()).rejects.toBeInstanceOf(UnavailableError);

        await proxy.reopen();
        expect(await proxied.countRows({ catalogId })).toBe(1);
      } finally {
        await proxiedPool.end();
        await proxy.close();
      }
    });

    it("fails to create a pool on a closed port with UnavailableError", async () => {
      const port = await closedPort();
      const error = await createPostgresPool({
        url: `postgres://dq:secret-password@127.0.0.1:${port}/postgres`,
        maximumPoolSize: 1,
        logger,
      }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as Error).message).toContain(`127.0.0.1:${port}`);
      expect((error as Error).message).not.toContain("secret-password");
    });

    if (kind === "postgres") {
      it("reports UnavailableError when its connection is terminated by the server, then reconnects", async () => {
        const catalogId = randomUUID();
        await store.upsertRows([row(catalogId)]);
        const admin = new pg.Client({ connectionString: database.url });
        await admin.connect();
        try {
          const error = await store
            .transaction(async (tx) => {
              await tx.countRows({ catalogId });
              const killed = await admin.query(
                "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
              );
              expect(killed.rowCount).toBeGreaterThan(0);
              await tx.countRows({ catalogId });
            })
            .catch((caught: unknown) => caught);
          expect(error).toBeInstanceOf(UnavailableError);
          expect((error as UnavailableError).dependency).toBe("postgres");
        } finally {
          await admin.end();
        }
        expect(await store.countRows({ catalogId })).toBe(1);
      });
    }
  });
}

/** A TCP proxy in front of the database, so a test can make the server unreachable and bring it back. */
async function startProxy(
  targetUrl: string,
): Promise<{ url: string; close(): Promise<void>; reopen(): Promise<void> }> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const listen = async () => {
    const created = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 5432), target.hostname);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
    });
    await new Promise<void>((resolve, reject) =>
      created.once("error", reject).listen(port, "127.0.0.1", () => resolve()),
    );
    port = (created.address() as net.AddressInfo).port;
    server = created;
  };
  await listen();
  const url = new URL(targetUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return {
    url: url.toString(),
    async close() {
      const current = server;
      server = undefined;
      for (const socket of sockets) {
        socket.destroy();
      }
      sockets.clear();
      if (current !== undefined) {
        await new Promise<void>((resolve) => current.close(() => resolve()));
      }
    },
    reopen: listen,
  };
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const target = testDatabaseTarget();
describeMetadataStore(
  target.kind === "postgres" ? "Postgres" : "PGlite (no Postgres server reachable)",
  target.kind,
  () => createTestDatabase(),
);
describeMetadataStore("embedded PGlite", "pglite", () => createPgliteTestDatabase());

describe("metadata store before migrations", () => {
  let database: TestDatabase;
  let pool: DatabasePool;

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: false });
    pool = await createPostgresPool({ url: database.url, maximumPoolSize: 1, logger });
  });

  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  it("fails with FailedPreconditionError naming the migrate command", async () => {
    const store = createPostgresMetadataStore({ pool, logger });
    await expect(store.ping()).rejects.toBeInstanceOf(FailedPreconditionError);
    const error = await store.getRows([randomUUID()]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(FailedPreconditionError);
    expect((error as Error).message).toContain("npm run migrate");
    await expect(store.upsertRows([row(randomUUID())])).rejects.toBeInstanceOf(FailedPreconditionError);
  });
});
