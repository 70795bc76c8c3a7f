import type { Logger } from "pino";
import { sql, type CommonQueryMethods, type DatabasePool, type DatabasePoolConnection } from "slonik";
import { z } from "zod";
import { FailedPreconditionError, InvalidArgumentError } from "../core/errors.js";
import {
  EMBEDDING_STATUSES,
  type EmbeddingRow,
  type EmbeddingRowInput,
  type EmbeddingStatus,
  type WriteIntent,
} from "../core/types.js";
import type { ListRowsOptions, LockKeys, MetadataStore, TableRef } from "./metadata-store.js";
import { toPostgresDomainError } from "./postgres-pool.js";
import { isUuid } from "../core/uuid.js";
import { CATALOG_ORIGIN } from "../core/catalog/types.js";
import { mapInSlices, SLICE } from "../core/slices.js";

export interface PostgresMetadataStoreDeps {
  /** Owned by the caller, who ends it; the store never does. */
  pool: DatabasePool;
  logger: Logger;
}

/** Largest page `listRows` returns. */
export const MAX_LIST_LIMIT = 10_000;

/** A `dq_embeddings` row as `EmbeddingRow` names it; other readers of the table derive theirs from it. */
export const embeddingRowSchema = z.object({
  id: z.string(),
  catalogId: z.string(),
  kind: z.string(),
  content: z.string(),
  metadata: z.record(z.unknown()),
  schemaName: z.string().nullable(),
  tableName: z.string().nullable(),
  status: z.enum(EMBEDDING_STATUSES),
  contentHash: z.string(),
  model: z.string(),
  qdrantPointId: z.string().nullable(),
  createdAt: z.number(),
  updatedAt: z.number(),
}) satisfies z.ZodType<EmbeddingRow>;

const idSchema = z.object({ id: z.string() });
/** Statements whose result is not read. */
const anyRow = z.object({}).passthrough();
const intentSchema = z.object({
  id: z.string(),
  writeId: z.string(),
  op: z.enum(["upsert", "delete", "status"]),
  catalogId: z.string().nullable(),
  target: z.record(z.unknown()).nullable(),
  vector: z.string().nullable(),
});
const countSchema = z.object({ count: z.number() });
const tableExistsSchema = z.object({ exists: z.boolean() });

/** The columns of `dq_embeddings`, named as `EmbeddingRow` names them. */
const rowColumns = sql.fragment`
  id,
  catalog_id AS "catalogId",
  kind,
  content,
  metadata,
  schema_name AS "schemaName",
  table_name AS "tableName",
  status,
  content_hash AS "contentHash",
  model,
  qdrant_point_id AS "qdrantPointId",
  created_at AS "createdAt",
  updated_at AS "updatedAt"
`;

/**
 * The metadata store on Postgres through Slonik. Queries are built with the `sql` tag only; a batch is
 * one statement (`jsonb_to_recordset` for writes, `= ANY(array)` for reads and deletes).
 */
export function createPostgresMetadataStore(deps: PostgresMetadataStoreDeps): MetadataStore {
  return bindStore(deps.pool, deps.logger, false, deps.pool);
}

/**
 * `pool` is set for the pool-wide store only: `withLocks` there reserves a connection. Stores bound to
 * one connection (a reserved one, or a transaction's) lock on that connection.
 */
function bindStore(
  connection: CommonQueryMethods,
  logger: Logger,
  inTransaction: boolean,
  pool?: DatabasePool,
): MetadataStore {
  async function run<T>(action: string, query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (error) {
      const converted = toPostgresDomainError(error, action);
      if (converted !== error) {
        logger.warn({ err: error, action }, "postgres call failed");
      }
      throw converted;
    }
  }

  const store: MetadataStore = {
    async upsertRows(rows: readonly EmbeddingRowInput[]): Promise<string[]> {
      if (rows.length === 0) {
        return [];
      }
      const records = lastPerId(rows).map(toRecord);
      const input = await jsonbRecords(records);
      return run("writing rows", () =>
        connection.anyFirst(sql.type(idSchema)`
          INSERT INTO dq_embeddings AS stored
            (id, catalog_id, kind, content, metadata, schema_name, table_name, status, content_hash, model, qdrant_point_id)
          SELECT id, catalog_id, kind, content, metadata, schema_name, table_name, status, content_hash, model, qdrant_point_id
          FROM jsonb_to_recordset(${input}) AS input (
            id uuid,
            catalog_id uuid,
            kind text,
            content text,
            metadata jsonb,
            schema_name text,
            table_name text,
            status text,
            content_hash text,
            model text,
            qdrant_point_id text
          )
          ON CONFLICT (id) DO UPDATE SET
            catalog_id = excluded.catalog_id,
            kind = excluded.kind,
            content = excluded.content,
            metadata = excluded.metadata,
            schema_name = excluded.schema_name,
            table_name = excluded.table_name,
            status = excluded.status,
            content_hash = excluded.content_hash,
            model = excluded.model,
            qdrant_point_id = excluded.qdrant_point_id,
            updated_at = now()
          WHERE stored.catalog_id = excluded.catalog_id
          RETURNING id
        `),
      ).then((written) => [...written]);
    },

    async getContextRows(catalogId, request) {
      if (!isUuid(catalogId)) {
        return [];
      }
      const ids = sql.array(uuidsOnly(request.ids), "uuid");
      const tableList = (tables: readonly TableRef[]) =>
        sql.fragment`SELECT * FROM unnest(${sql.array(
          tables.map((table) => table.schema),
          "text",
        )}, ${sql.array(
          tables.map((table) => table.table),
          "text",
        )})`;
      const isKey = sql.fragment`(metadata->>'primaryKey' = 'true' OR jsonb_typeof(metadata->'references') = 'object')`;
      // Index lookups, not one OR over the catalog: the hits by id; the tables' own chunks that are not
      // hits (dq_embeddings_catalog_table_idx); the listed columns of `columnsOf` that are neither.
      const byId = sql.fragment`
        SELECT ${rowColumns} FROM dq_embeddings
        WHERE catalog_id = ${catalogId} AND status <> 'rejected' AND id = ANY(${ids})`;
      const byTable = sql.fragment`
        SELECT ${rowColumns} FROM dq_embeddings
        WHERE catalog_id = ${catalogId}
          AND status <> 'rejected'
          AND (schema_name, table_name) IN (${tableList(request.tables)})
          AND NOT (id = ANY(${ids}))
          AND metadata->>'origin' = ${CATALOG_ORIGIN}
          AND (kind = 'table' OR (kind = 'column' AND ${isKey}))`;
      const columnsOf = request.columnsOf;
      const listedColumns =
        columnsOf === undefined || columnsOf.tables.length === 0
          ? undefined
          : sql.fragment`
        SELECT ${rowColumns} FROM dq_embeddings
        WHERE (catalog_id, schema_name, table_name, kind, metadata->>'column') IN (
            SELECT listing.catalog_id, listing.schema_name, listing.table_name, 'column', listed.column_def->>'name'
            FROM dq_embeddings AS listing
            CROSS JOIN LATERAL jsonb_array_elements(
              CASE WHEN jsonb_typeof(listing.metadata->'columns') = 'array' THEN listing.metadata->'columns' ELSE '[]' END
            ) WITH ORDINALITY AS listed(column_def, position)
            WHERE listing.catalog_id = ${catalogId}
              AND (listing.schema_name, listing.table_name) IN (${tableList(columnsOf.tables)})
              AND listing.kind = 'table'
              AND listing.status <> 'rejected'
              AND listing.metadata->>'origin' = ${CATALOG_ORIGIN}
              AND listed.position <= ${columnsOf.maxPerTable}
          )
          AND status <> 'rejected'
          AND metadata->>'origin' = ${CATALOG_ORIGIN}
          AND NOT (id = ANY(${ids}))
          AND ${isKey} IS NOT TRUE`;
      const parts = [
        ...(request.ids.length > 0 ? [byId] : []),
        ...(request.tables.length > 0 ? [byTable] : []),
        ...(listedColumns === undefined ? [] : [listedColumns]),
      ];
      if (parts.length === 0) {
        return [];
      }
      const rows = await run("reading context rows", () =>
        connection.any(sql.type(embeddingRowSchema)`${sql.join(parts, sql.fragment` UNION ALL `)}`),
      );
      return [...rows];
    },

    async getRows(ids: readonly string[], options: { catalogId?: string } = {}): Promise<EmbeddingRow[]> {
      const wanted = uuidsOnly(ids);
      if (wanted.length === 0 || (options.catalogId !== undefined && !isUuid(options.catalogId))) {
        return [];
      }
      const catalogFilter =
        options.catalogId === undefined ? sql.fragment`` : sql.fragment`AND catalog_id = ${options.catalogId}`;
      const rows = await run("reading rows", () =>
        connection.any(sql.type(embeddingRowSchema)`
          SELECT ${rowColumns}
          FROM dq_embeddings
          WHERE id = ANY(${sql.array(wanted, "uuid")}) ${catalogFilter}
        `),
      );
      const byId = new Map(rows.map((row) => [row.id.toLowerCase(), row]));
      const ordered: EmbeddingRow[] = [];
      const seen = new Set<string>();
      for (const id of wanted) {
        const key = id.toLowerCase();
        const row = byId.get(key);
        if (row !== undefined && !seen.has(key)) {
          seen.add(key);
          ordered.push(row);
        }
      }
      return ordered;
    },

    async deleteRows(
      ids: readonly string[],
      options: { catalogId?: string; status?: EmbeddingStatus } = {},
    ): Promise<string[]> {
      const wanted = uuidsOnly(ids);
      if (wanted.length === 0 || (options.catalogId !== undefined && !isUuid(options.catalogId))) {
        return [];
      }
      const conditions = [sql.fragment`id = ANY(${sql.array(wanted, "uuid")})`, ...filterConditions(options)];
      return run("deleting rows", () =>
        connection.anyFirst(sql.type(idSchema)`
          DELETE FROM dq_embeddings
          ${whereClause(conditions)}
          RETURNING id
        `),
      ).then((written) => [...written]);
    },

    async listRows(options: ListRowsOptions): Promise<EmbeddingRow[]> {
      const { limit } = options;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
        throw new InvalidArgumentError("limit", `must be a whole number from 1 to ${MAX_LIST_LIMIT}, got ${limit}`);
      }
      if (options.catalogId !== undefined && !isUuid(options.catalogId)) {
        return [];
      }
      if (options.afterId !== undefined && !isUuid(options.afterId)) {
        throw new InvalidArgumentError("afterId", "must be the id of the last row of the previous page (a UUID)");
      }
      const conditions = filterConditions(options);
      if (options.afterId !== undefined) {
        conditions.push(sql.fragment`id > ${options.afterId}::uuid`);
      }
      return run("listing rows", () =>
        connection.any(sql.type(embeddingRowSchema)`
          SELECT ${rowColumns}
          FROM dq_embeddings
          ${whereClause(conditions)}
          ORDER BY id
          LIMIT ${limit}
        `),
      ).then((rows) => [...rows]);
    },

    async countRows(options: { catalogId?: string; status?: EmbeddingStatus }): Promise<number> {
      if (options.catalogId !== undefined && !isUuid(options.catalogId)) {
        return 0;
      }
      return run("counting rows", () =>
        connection.oneFirst(sql.type(countSchema)`
          SELECT count(*) AS count
          FROM dq_embeddings
          ${whereClause(filterConditions(options))}
        `),
      );
    },

    async updateStatus(
      ids: readonly string[],
      status: EmbeddingStatus,
      options: { catalogId?: string } = {},
    ): Promise<string[]> {
      if (!EMBEDDING_STATUSES.includes(status)) {
        throw new InvalidArgumentError(
          "status",
          `must be one of ${EMBEDDING_STATUSES.join(", ")}, got "${String(status)}"`,
        );
      }
      const wanted = uuidsOnly(ids);
      if (wanted.length === 0 || (options.catalogId !== undefined && !isUuid(options.catalogId))) {
        return [];
      }
      const catalogFilter =
        options.catalogId === undefined ? sql.fragment`` : sql.fragment`AND catalog_id = ${options.catalogId}::uuid`;
      return run("updating status", () =>
        connection.anyFirst(sql.type(idSchema)`
          UPDATE dq_embeddings
          SET
            updated_at = CASE WHEN status IS DISTINCT FROM ${status} THEN now() ELSE updated_at END,
            status = ${status}
          WHERE id = ANY(${sql.array(wanted, "uuid")}) ${catalogFilter}
          RETURNING id
        `),
      ).then((written) => [...written]);
    },

    async putIntents(intents: readonly WriteIntent[]): Promise<void> {
      if (intents.length === 0) {
        return;
      }
      const records = intents.map((intent) => ({
        id: intent.id,
        write_id: intent.writeId,
        op: intent.op,
        catalog_id: intent.catalogId ?? null,
        target: intent.target === undefined ? null : toRecord(intent.target),
        vector:
          intent.vector === undefined
            ? null
            : Buffer.from(intent.vector.buffer, intent.vector.byteOffset, intent.vector.byteLength).toString("base64"),
      }));
      const input = await jsonbRecords(records);
      await run("recording write intents", () =>
        connection.query(sql.type(anyRow)`
          INSERT INTO dq_write_intents AS stored (id, write_id, op, catalog_id, target, vector)
          SELECT id, write_id, op, catalog_id, target, decode(vector, 'base64')
          FROM jsonb_to_recordset(${input}) AS input (
            id uuid, write_id uuid, op text, catalog_id uuid, target jsonb, vector text
          )
          ON CONFLICT (id) DO UPDATE SET
            write_id = excluded.write_id, op = excluded.op, catalog_id = excluded.catalog_id,
            target = excluded.target, vector = excluded.vector, created_at = now()
        `),
      );
    },

    async getIntents(ids: readonly string[]): Promise<WriteIntent[]> {
      const wanted = uuidsOnly(ids);
      if (wanted.length === 0) {
        return [];
      }
      const rows = await run("reading write intents", () =>
        connection.any(sql.type(intentSchema)`
          SELECT id, write_id AS "writeId", op, catalog_id AS "catalogId", target, encode(vector, 'base64') AS vector
          FROM dq_write_intents
          WHERE id = ANY(${sql.array(wanted, "uuid")})
          ORDER BY id
        `),
      );
      return rows.map((row) => ({
        id: row.id,
        writeId: row.writeId,
        op: row.op,
        catalogId: row.catalogId ?? undefined,
        target: row.target === null ? undefined : fromRecord(row.target),
        vector: row.vector === null ? undefined : toFloat32(Buffer.from(row.vector, "base64")),
      }));
    },

    async listIntentIds(limit: number): Promise<string[]> {
      return run("listing write intents", () =>
        connection.anyFirst(sql.type(idSchema)`
          SELECT id FROM dq_write_intents ORDER BY created_at, id LIMIT ${limit}
        `),
      ).then((ids) => [...ids]);
    },

    async deleteIntents(ids: readonly string[], options: { writeId?: string } = {}): Promise<number> {
      const wanted = uuidsOnly(ids);
      if (wanted.length === 0) {
        return 0;
      }
      const writeFilter =
        options.writeId === undefined ? sql.fragment`` : sql.fragment`AND write_id = ${options.writeId}::uuid`;
      // A count, not a row per intent: every write ends with this statement.
      return run("deleting write intents", () =>
        connection.oneFirst(sql.type(countSchema)`
          WITH deleted AS (
            DELETE FROM dq_write_intents WHERE id = ANY(${sql.array(wanted, "uuid")}) ${writeFilter} RETURNING 1
          )
          SELECT count(*)::int AS count FROM deleted
        `),
      );
    },

    async countIntents(): Promise<number> {
      return run("counting write intents", () =>
        connection.oneFirst(sql.type(countSchema)`SELECT count(*) AS count FROM dq_write_intents`),
      );
    },

    async withLocks<T>(keys: LockKeys, fn: (store: MetadataStore, locked: string[]) => Promise<T>): Promise<T> {
      if (pool !== undefined) {
        // The pool-wide store: reserve one connection for the locks and everything fn does.
        return run("reserving a connection", () =>
          pool.connect((reserved: DatabasePoolConnection) => bindStore(reserved, logger, false).withLocks(keys, fn)),
        );
      }
      const lockKeys = [
        ...[...new Set(keys.catalogIds ?? [])].map((catalogId) => ({
          key: `catalog:${catalogId.toLowerCase()}`,
          id: undefined,
          skippable: false,
        })),
        ...uuidsOnly(keys.ids ?? []).map((id) => ({
          key: `id:${id.toLowerCase()}`,
          id: id.toLowerCase(),
          skippable: keys.skipLocked === true,
        })),
      ];
      const unique = [...new Map(lockKeys.map((lock) => [lock.key, lock])).values()];
      // One fixed order for every locker (catalogs first, then ids, each by key) rules out deadlocks.
      unique.sort((left, right) =>
        (left.id === undefined) === (right.id === undefined)
          ? left.key < right.key
            ? -1
            : 1
          : left.id === undefined
            ? -1
            : 1,
      );
      const held: string[] = [];
      const locked: string[] = [];
      try {
        // One statement per kind of lock, whatever the batch size. Blocking locks are taken one row at
        // a time in the array's order (the subquery's ORDER BY runs before the outer projection).
        const blocking = unique.filter((lock) => !lock.skippable).map((lock) => lock.key);
        if (blocking.length > 0) {
          // Session locks outlive a failed statement: one that fails half-way (deadlock detected,
          // statement timeout) counts as holding them all, so `finally` releases what it did take
          // (releasing a key not held is a no-op).
          held.push(...blocking);
          await run("taking write locks", () =>
            connection.query(sql.type(anyRow)`
              SELECT count(pg_advisory_lock(hashtextextended(ordered.key, 0)))
              FROM (SELECT key FROM unnest(${sql.array(blocking, "text")}) WITH ORDINALITY AS input (key, position) ORDER BY position) AS ordered
            `),
          );
          locked.push(
            ...unique.filter((lock) => !lock.skippable && lock.id !== undefined).map((lock) => lock.id as string),
          );
        }
        const trying = unique.filter((lock) => lock.skippable);
        if (trying.length > 0) {
          const got = new Set(
            await run("taking write locks", () =>
              connection.anyFirst(sql.type(z.object({ key: z.string() }))`
                SELECT key FROM unnest(${sql.array(
                  trying.map((lock) => lock.key),
                  "text",
                )}) AS input (key)
                WHERE pg_try_advisory_lock(hashtextextended(key, 0))
              `),
            ),
          );
          for (const lock of trying) {
            if (got.has(lock.key)) {
              held.push(lock.key);
              locked.push(lock.id as string);
            }
          }
        }
        return await fn(store, locked);
      } finally {
        // A dead connection has lost its locks already; the pool then discards it.
        if (held.length > 0) {
          await connection
            .query(
              sql.type(
                anyRow,
              )`SELECT count(pg_advisory_unlock(hashtextextended(key, 0))) FROM unnest(${sql.array(held, "text")}) AS input (key)`,
            )
            .catch((error: unknown) => {
              logger.warn(
                { err: error },
                "releasing write locks failed; the connection is dropped and Postgres releases them",
              );
            });
        }
      }
    },

    async transaction<T>(fn: (store: MetadataStore) => Promise<T>): Promise<T> {
      // Errors thrown by fn (a Qdrant failure, a NotFoundError) roll back and propagate unchanged;
      // only failures of BEGIN, COMMIT or the connection itself are converted here.
      let fnFailure: { error: unknown } | undefined;
      try {
        return await connection.transaction(async (transactionConnection) => {
          try {
            return await fn(bindStore(transactionConnection, logger, true));
          } catch (error) {
            fnFailure = { error };
            throw error;
          }
        });
      } catch (error) {
        if (fnFailure !== undefined && fnFailure.error === error) {
          throw error;
        }
        throw toPostgresDomainError(error, inTransaction ? "running a nested transaction" : "running a transaction");
      }
    },

    async ping(): Promise<void> {
      const exists = await run("checking readiness", () =>
        connection.oneFirst(sql.type(tableExistsSchema)`SELECT to_regclass('dq_embeddings') IS NOT NULL AS exists`),
      );
      if (!exists) {
        throw new FailedPreconditionError("dq_embeddings does not exist: run npm run migrate");
      }
    },
  };
  return store;
}

function filterConditions(options: { catalogId?: string; status?: EmbeddingStatus }) {
  const conditions = [];
  if (options.catalogId !== undefined) {
    conditions.push(sql.fragment`catalog_id = ${options.catalogId}::uuid`);
  }
  if (options.status !== undefined) {
    conditions.push(sql.fragment`status = ${options.status}`);
  }
  return conditions;
}

function whereClause(conditions: ReturnType<typeof filterConditions>) {
  return conditions.length === 0 ? sql.fragment`` : sql.fragment`WHERE ${sql.join(conditions, sql.fragment` AND `)}`;
}

/**
 * A batch of records as one jsonb parameter. `JSON.stringify` rather than `sql.jsonb` (which runs
 * safe-stable-stringify, several times slower): the records are plain rows whose metadata the request
 * validation already holds to finite numbers and no cycles, and jsonb does not keep key order anyway.
 * A large batch (1,000 rows of 64 KiB is 64 MiB of JSON) is stringified a slice of rows at a time, so
 * the event loop runs in between; the text is the same.
 */
async function jsonbRecords(records: readonly object[]) {
  const json =
    records.length <= SLICE
      ? JSON.stringify(records)
      : `[${(await mapInSlices(records, (record) => JSON.stringify(record))).join(",")}]`;
  return sql.fragment`${json}::jsonb`;
}

function uuidsOnly(ids: readonly string[]): string[] {
  return ids.filter(isUuid);
}

/** A batch naming an id twice would make ON CONFLICT touch a row twice: keep the last row per id. */
function lastPerId(rows: readonly EmbeddingRowInput[]): EmbeddingRowInput[] {
  const byId = new Map<string, EmbeddingRowInput>();
  rows.forEach((row, index) => {
    if (!isUuid(row.id)) {
      throw new InvalidArgumentError(`rows[${index}].id`, "must be a UUID");
    }
    if (!isUuid(row.catalogId)) {
      throw new InvalidArgumentError(`rows[${index}].catalogId`, "must be a UUID");
    }
    const key = row.id.toLowerCase();
    byId.delete(key);
    byId.set(key, row);
  });
  // Rows are locked in this order: the same order for every batch keeps overlapping batches from deadlocking.
  return [...byId.values()].sort((left, right) => (left.id.toLowerCase() < right.id.toLowerCase() ? -1 : 1));
}

function toFloat32(bytes: Buffer): Float32Array {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}

function fromRecord(record: Record<string, unknown>): EmbeddingRowInput {
  const text = (key: string) => record[key] as string;
  const nullable = (key: string) => (record[key] ?? null) as string | null;
  return {
    id: text("id"),
    catalogId: text("catalog_id"),
    kind: text("kind"),
    content: text("content"),
    metadata: record.metadata as Record<string, unknown>,
    schemaName: nullable("schema_name"),
    tableName: nullable("table_name"),
    status: text("status") as EmbeddingStatus,
    contentHash: text("content_hash"),
    model: text("model"),
    qdrantPointId: nullable("qdrant_point_id"),
  };
}

function toRecord(row: EmbeddingRowInput) {
  return {
    id: row.id,
    catalog_id: row.catalogId,
    kind: row.kind,
    content: row.content,
    metadata: row.metadata,
    schema_name: row.schemaName,
    table_name: row.tableName,
    status: row.status,
    content_hash: row.contentHash,
    model: row.model,
    qdrant_point_id: row.qdrantPointId,
  };
}
