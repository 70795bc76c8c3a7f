import type { EmbeddingRow, EmbeddingRowInput, EmbeddingStatus } from "../core/types.js";

/**
 * The metadata store: the `dq_embeddings` rows (content, metadata, status) keyed by the id that is also
 * the Qdrant point id. It knows nothing of Qdrant; the core keeps the two stores in step.
 *
 * Every method throws domain errors only: `UnavailableError("postgres", …)` when the server cannot be
 * reached or drops the connection (retryable), `FailedPreconditionError` when the table is missing (run
 * `npm run migrate`), `InternalError` for anything else. Ids that are not UUIDs match nothing.
 */
export interface MetadataStore {
  /**
   * Inserts or updates rows in one statement (the batch is atomic). `created_at` is kept on update and
   * `updated_at` set to now. A batch naming an id twice keeps the last row for it.
   *
   * Resolves to the ids actually written. With `skipUnchanged`, a row whose stored values (content
   * hash, model, metadata, kind, status, catalog, schema, table, point id) already equal the input is
   * not rewritten and its id is left out, so re-sending the same data writes nothing.
   */
  upsertRows(rows: readonly EmbeddingRowInput[], options?: UpsertRowsOptions): Promise<string[]>;
  /** The rows for these ids, in the order of `ids`, in one query; missing ids are left out. */
  getRows(ids: readonly string[], options?: { catalogId?: string }): Promise<EmbeddingRow[]>;
  /**
   * The rows a retrieval context needs, in ONE query, all within the catalog: the rows of `ids`, plus,
   * for each of `tables`, its catalog table chunk and its key-column chunks (primary key, or a foreign
   * key: `metadata.primaryKey` / `metadata.references` as catalog indexing writes them), rejected ones
   * excluded. Order is unspecified.
   */
  getContextRows(catalogId: string, request: { ids: readonly string[]; tables: readonly TableRef[] }): Promise<EmbeddingRow[]>;
  /** Deletes the rows; resolves to the ids that existed. */
  deleteRows(ids: readonly string[]): Promise<string[]>;
  /** One page ordered by id, after `afterId` (keyset paging: pass the last id of the previous page). */
  listRows(options: ListRowsOptions): Promise<EmbeddingRow[]>;
  countRows(options: { catalogId?: string; status?: EmbeddingStatus }): Promise<number>;
  /** Sets the status of existing rows; resolves to the ids that exist (whether or not they changed). */
  updateStatus(ids: readonly string[], status: EmbeddingStatus): Promise<string[]>;
  /**
   * Runs `fn` with a store bound to one transaction: everything it does commits together when `fn`
   * resolves and rolls back when it throws (its error is rethrown as-is). A nested call runs on the same
   * connection, inside a savepoint.
   */
  transaction<T>(fn: (store: MetadataStore) => Promise<T>): Promise<T>;
  /** Resolves when Postgres answers and `dq_embeddings` exists; for readiness checks. */
  ping(): Promise<void>;
}

export interface TableRef {
  schema: string;
  table: string;
}

export interface UpsertRowsOptions {
  /** Leave rows whose stored values equal the input untouched (and out of the result). */
  skipUnchanged?: boolean;
}

export interface ListRowsOptions {
  catalogId?: string;
  status?: EmbeddingStatus;
  /** Exclusive lower bound on id; omit for the first page. */
  afterId?: string;
  /** Page size, 1..10000. */
  limit: number;
}
