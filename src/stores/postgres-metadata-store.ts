import type { Logger } from "pino";
import { sql, type CommonQueryMethods, type DatabasePool, type SerializableValue } from "slonik";
import { z } from "zod";
import { FailedPreconditionError, InvalidArgumentError } from "../core/errors.js";
import { EMBEDDING_STATUSES, type EmbeddingRow, type EmbeddingRowInput, type EmbeddingStatus } from "../core/types.js";
import type { ListRowsOptions, MetadataStore, UpsertRowsOptions } from "./metadata-store.js";
import { toPostgresDomainError } from "./postgres-pool.js";

export interface PostgresMetadataStoreDeps {
  /** Owned by the caller, who ends it; the store never does. */
  pool: DatabasePool;
  logger: Logger;
}

/** Largest page `listRows` returns. */
export const MAX_LIST_LIMIT = 10_000;

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
  return bindStore(deps.pool, deps.logger, false);
}

function bindStore(connection: CommonQueryMethods, logger: Logger, inTransaction: boolean): MetadataStore {
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
    async upsertRows(rows: readonly EmbeddingRowInput[], options: UpsertRowsOptions = {}): Promise<string[]> {
      if (rows.length === 0) {
        return [];
      }
      const records = lastPerId(rows).map(toRecord);
      const onlyChanged = options.skipUnchanged
        ? sql.fragment`
            WHERE (stored.catalog_id, stored.kind, stored.content, stored.metadata, stored.schema_name, stored.table_name,
                   stored.status, stored.content_hash, stored.model, stored.qdrant_point_id)
              IS DISTINCT FROM
                  (excluded.catalog_id, excluded.kind, excluded.content, excluded.metadata, excluded.schema_name, excluded.table_name,
                   excluded.status, excluded.content_hash, excluded.model, excluded.qdrant_point_id)`
        : sql.fragment``;
      return run("writing rows", () =>
        connection.anyFirst(sql.type(idSchema)`
          INSERT INTO dq_embeddings AS stored
            (id, catalog_id, kind, content, metadata, schema_name, table_name, status, content_hash, model, qdrant_point_id)
          SELECT id, catalog_id, kind, content, metadata, schema_name, table_name, status, content_hash, model, qdrant_point_id
          FROM jsonb_to_recordset(${sql.jsonb(records as unknown as SerializableValue)}) AS input (
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
          ${onlyChanged}
          RETURNING id
        `),
      ).then((written) => [...written]);
    },

    async getContextRows(catalogId, request) {
      if (!isUuid(catalogId)) {
        return [];
      }
      const ids = uuidsOnly(request.ids);
      const schemas = request.tables.map((table) => table.schema);
      const tables = request.tables.map((table) => table.table);
      const rows = await run("reading context rows", () =>
        connection.any(sql.type(embeddingRowSchema)`
          SELECT ${rowColumns}
          FROM dq_embeddings
          WHERE catalog_id = ${catalogId}
            AND (
              id = ANY(${sql.array(ids, "uuid")})
              OR (
                (schema_name, table_name) IN (SELECT * FROM unnest(${sql.array(schemas, "text")}, ${sql.array(tables, "text")}))
                AND status <> 'rejected'
                AND metadata->>'origin' = 'catalog'
                AND (
                  kind = 'table'
                  OR (kind = 'column' AND (metadata->>'primaryKey' = 'true' OR jsonb_typeof(metadata->'references') = 'object'))
                )
              )
            )
        `),
      );
      return [...rows];
    },

    async getRows(ids: readonly string[], options: { catalogId?: string } = {}): Promise<EmbeddingRow[]> {
      const wanted = uuidsOnly(ids);
      if (wanted.length === 0 || (options.catalogId !== undefined && !isUuid(options.catalogId))) {
        return [];
      }
      const catalogFilter = options.catalogId === undefined ? sql.fragment`` : sql.fragment`AND catalog_id = ${options.catalogId}`;
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

    async deleteRows(ids: readonly string[]): Promise<string[]> {
      const wanted = uuidsOnly(ids);
      if (wanted.length === 0) {
        return [];
      }
      return run("deleting rows", () =>
        connection.anyFirst(sql.type(idSchema)`
          DELETE FROM dq_embeddings
          WHERE id = ANY(${sql.array(wanted, "uuid")})
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

    async updateStatus(ids: readonly string[], status: EmbeddingStatus): Promise<string[]> {
      if (!EMBEDDING_STATUSES.includes(status)) {
        throw new InvalidArgumentError("status", `must be one of ${EMBEDDING_STATUSES.join(", ")}, got "${String(status)}"`);
      }
      const wanted = uuidsOnly(ids);
      if (wanted.length === 0) {
        return [];
      }
      return run("updating status", () =>
        connection.anyFirst(sql.type(idSchema)`
          UPDATE dq_embeddings
          SET
            updated_at = CASE WHEN status IS DISTINCT FROM ${status} THEN now() ELSE updated_at END,
            status = ${status}
          WHERE id = ANY(${sql.array(wanted, "uuid")})
          RETURNING id
        `),
      ).then((written) => [...written]);
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

function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
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
