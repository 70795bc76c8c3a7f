import { createHash, randomUUID } from "node:crypto";
import pg from "pg";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { runMigrations } from "../../src/stores/migrations.js";
import { createPostgresMetadataStore } from "../../src/stores/postgres-metadata-store.js";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";
import {
  createPgliteTestDatabase,
  createTestDatabase,
  testDatabaseTarget,
  type TestDatabase,
} from "../helpers/test-database.js";

const logger = pino({ level: "silent" });

const FIRST_MIGRATION = "1764050000000_dq-embeddings";

const SERVICE_COLUMNS = [
  "catalog_id",
  "content",
  "content_hash",
  "created_at",
  "id",
  "kind",
  "metadata",
  "model",
  "qdrant_point_id",
  "schema_name",
  "status",
  "table_name",
  "updated_at",
];

interface Scenario {
  name: string;
  /** An empty (unmigrated) database. */
  create(): Promise<TestDatabase>;
  /** The old pgvector installation's table, as each engine can hold it. */
  oldTable: string;
  /** pgvector on this engine: the old rows carry a 3072-d vector. */
  vector: boolean;
}

function describeMigrations(scenario: Scenario): void {
  describe(`migrations on ${scenario.name}`, () => {
    const databases: TestDatabase[] = [];
    afterEach(async () => {
      await Promise.all(databases.splice(0).map((database) => database.drop()));
    });

    async function emptyDatabase(): Promise<TestDatabase> {
      const database = await scenario.create();
      databases.push(database);
      return database;
    }

    it("creates dq_embeddings on an empty database, and a second run changes nothing", async () => {
      const database = await emptyDatabase();
      expect(await runMigrations({ databaseUrl: database.url, logger })).toContain(FIRST_MIGRATION);
      expect(await runMigrations({ databaseUrl: database.url, logger })).toEqual([]);

      await withClient(database.url, async (client) => {
        expect(await columns(client)).toEqual(
          Object.fromEntries(SERVICE_COLUMNS.map((name) => [name, expect.any(String)])),
        );
        expect((await columns(client)).metadata).toBe("jsonb");
        const indexes = await client.query<{ indexdef: string }>(
          "SELECT indexdef FROM pg_indexes WHERE tablename = 'dq_embeddings'",
        );
        const definitions = indexes.rows.map((index) => index.indexdef.replace(/^.* USING btree /, ""));
        expect(definitions).toEqual(
          expect.arrayContaining(["(id)", "(catalog_id, id)", "(catalog_id, status)", "(qdrant_point_id)"]),
        );
        await expect(
          client.query(
            "INSERT INTO dq_embeddings (id, content, kind, catalog_id, content_hash, model, status) VALUES ($1, 'x', 'table', $2, 'h', 'm', 'bogus')",
            [randomUUID(), randomUUID()],
          ),
        ).rejects.toMatchObject({ code: "23514" });
      });
    });

    it("brings an old pgvector-era table to the service's shape and keeps its rows", async () => {
      const database = await emptyDatabase();
      const catalogId = randomUUID();
      const oldIds = [randomUUID(), randomUUID()];
      await withClient(database.url, async (client) => {
        if (scenario.vector) {
          await client.query("CREATE EXTENSION IF NOT EXISTS vector");
        }
        await client.query(scenario.oldTable);
        for (const [index, id] of oldIds.entries()) {
          const vector = scenario.vector ? ", embedding" : "";
          const vectorValue = scenario.vector ? ", array_fill(0.25::real, ARRAY[3072])::vector" : "";
          await client.query(
            `INSERT INTO dq_embeddings (id, content, kind, catalog_id, metadata${vector}) VALUES ($1, $2, 'table', $3, $4::json${vectorValue})`,
            [
              id,
              `Table: legacy_${index}`,
              catalogId,
              JSON.stringify({ schema: "public", table: `legacy_${index}`, tags: ["old"] }),
            ],
          );
        }
      });

      // Old metadata was plain json: null and non-object values must still read as objects.
      const oddIds = [randomUUID(), randomUUID()];
      await withClient(database.url, async (client) => {
        for (const [id, metadata] of [
          [oddIds[0], "null"],
          [oddIds[1], "[1, 2]"],
        ]) {
          const vector = scenario.vector ? ", embedding" : "";
          const vectorValue = scenario.vector ? ", array_fill(0.25::real, ARRAY[3072])::vector" : "";
          await client.query(
            `INSERT INTO dq_embeddings (id, content, kind, catalog_id, metadata${vector}) VALUES ($1, 'odd', 'table', $2, $3::json${vectorValue})`,
            [id, catalogId, metadata],
          );
        }
      });

      await runMigrations({ databaseUrl: database.url, logger });

      await withClient(database.url, async (client) => {
        const shape = await columns(client);
        expect(shape).toMatchObject(Object.fromEntries(SERVICE_COLUMNS.map((name) => [name, expect.any(String)])));
        expect(shape.metadata).toBe("jsonb");
        if (scenario.vector) {
          expect(shape.embedding).toBe("vector");
          const kept = await client.query<{ dims: number }>(
            "SELECT vector_dims(embedding) AS dims FROM dq_embeddings WHERE id = $1",
            [oldIds[0]],
          );
          expect(kept.rows[0].dims).toBe(3072);
        }
      });

      const pool = await createPostgresPool({ url: database.url, maximumPoolSize: 1, logger });
      try {
        const store = createPostgresMetadataStore({ pool, logger });
        const rows = await store.getRows(oldIds, { catalogId });
        expect(rows.map((row) => row.id)).toEqual(oldIds);
        expect(rows[0]).toMatchObject({
          content: "Table: legacy_0",
          metadata: { schema: "public", table: "legacy_0", tags: ["old"] },
          status: "pending",
          contentHash: createHash("sha256").update("Table: legacy_0", "utf8").digest("hex"),
          model: "text-embedding-3-large",
          qdrantPointId: null,
          schemaName: null,
          tableName: null,
        });

        expect((await store.getRows(oddIds)).map((row) => row.metadata)).toEqual([{}, { legacy_value: [1, 2] }]);

        // New rows (no pgvector value) go in beside the old ones.
        const id = randomUUID();
        await store.upsertRows([
          {
            id,
            catalogId,
            kind: "column",
            content: "Column: legacy_0.id",
            metadata: {},
            schemaName: "public",
            tableName: "legacy_0",
            status: "accepted",
            contentHash: "h",
            model: "local",
            qdrantPointId: id,
          },
        ]);
        expect(await store.countRows({ catalogId })).toBe(5);
      } finally {
        await pool.end();
      }
    });

    it("down drops the table it created, and only the added columns of an old table", async () => {
      const fresh = await emptyDatabase();
      await runMigrations({ databaseUrl: fresh.url, logger });
      expect(await runMigrations({ databaseUrl: fresh.url, logger, direction: "down", count: Infinity })).toContain(
        FIRST_MIGRATION,
      );
      await withClient(fresh.url, async (client) => {
        expect((await client.query("SELECT to_regclass('dq_embeddings') AS name")).rows[0].name).toBeNull();
      });

      if (scenario.vector) {
        const old = await emptyDatabase();
        await withClient(old.url, async (client) => {
          await client.query("CREATE EXTENSION IF NOT EXISTS vector");
          await client.query(scenario.oldTable);
          await client.query(
            "INSERT INTO dq_embeddings (id, content, kind, catalog_id, metadata, embedding) VALUES ($1, 'x', 'table', $2, '{}', array_fill(0.5::real, ARRAY[3072])::vector)",
            [randomUUID(), randomUUID()],
          );
        });
        await runMigrations({ databaseUrl: old.url, logger });
        await runMigrations({ databaseUrl: old.url, logger, direction: "down", count: Infinity });
        await withClient(old.url, async (client) => {
          expect(Object.keys(await columns(client)).sort()).toEqual([
            "catalog_id",
            "content",
            "embedding",
            "id",
            "kind",
            "metadata",
          ]);
          expect((await client.query("SELECT count(*)::int AS count FROM dq_embeddings")).rows[0].count).toBe(1);
        });
      }
    });
  });
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function columns(client: pg.Client): Promise<Record<string, string>> {
  const result = await client.query<{ column_name: string; udt_name: string }>(
    "SELECT column_name, udt_name FROM information_schema.columns WHERE table_name = 'dq_embeddings' ORDER BY column_name",
  );
  return Object.fromEntries(result.rows.map((row) => [row.column_name, row.udt_name]));
}

const OLD_TABLE = `CREATE TABLE dq_embeddings (
  id uuid PRIMARY KEY,
  content text NOT NULL,
  kind text NOT NULL,
  catalog_id uuid NOT NULL,
  metadata json`;

const target = testDatabaseTarget();
describeMigrations({
  name:
    target.kind === "postgres"
      ? "Postgres (old table without pgvector, which this server lacks)"
      : "PGlite (no Postgres server reachable)",
  create: () => createTestDatabase({ migrated: false }),
  oldTable: `${OLD_TABLE})`,
  vector: false,
});
describeMigrations({
  name: "PGlite with pgvector",
  create: () => createPgliteTestDatabase({ migrated: false, vector: true }),
  oldTable: `${OLD_TABLE}, embedding vector(3072) NOT NULL)`,
  vector: true,
});
