import type { EmbeddingRow, EmbeddingRowInput, EmbeddingStatus, WriteIntent } from "../core/types.js";

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
   * The tenant guard is in the statement: a stored row of ANOTHER catalog is never updated, and its id
   * is left out of the result (the caller turns that into FAILED_PRECONDITION).
   *
   * Resolves to the ids actually written.
   */
  upsertRows(rows: readonly EmbeddingRowInput[]): Promise<string[]>;
  /** The rows for these ids, in the order of `ids`, in one query; missing ids are left out. */
  getRows(ids: readonly string[], options?: { catalogId?: string }): Promise<EmbeddingRow[]>;
  /**
   * The rows a retrieval context needs, in ONE query, all within the catalog, rejected ones excluded,
   * each once: the rows of `ids`; for each of `tables`, its catalog table chunk and its key-column
   * chunks (primary key, or a foreign key: `metadata.primaryKey` / `metadata.references` as catalog
   * indexing writes them); and for each table of `columnsOf`, the other catalog column chunks of the
   * first `maxPerTable` columns its catalog table chunk lists. Order is unspecified.
   */
  getContextRows(
    catalogId: string,
    request: {
      ids: readonly string[];
      tables: readonly TableRef[];
      columnsOf?: { tables: readonly TableRef[]; maxPerTable: number };
    },
  ): Promise<EmbeddingRow[]>;
  /**
   * Deletes the rows; resolves to the ids that existed. With `catalogId` only rows of that catalog, with
   * `status` only rows that have it (checked in the statement, so a row changed meanwhile is kept).
   */
  deleteRows(ids: readonly string[], options?: { catalogId?: string; status?: EmbeddingStatus }): Promise<string[]>;
  /** One page ordered by id, after `afterId` (keyset paging: pass the last id of the previous page). */
  listRows(options: ListRowsOptions): Promise<EmbeddingRow[]>;
  countRows(options: { catalogId?: string; status?: EmbeddingStatus }): Promise<number>;
  /**
   * Sets the status of existing rows (of `catalogId` only, when given); resolves to the ids that exist
   * there (whether or not they changed).
   */
  updateStatus(ids: readonly string[], status: EmbeddingStatus, options?: { catalogId?: string }): Promise<string[]>;
  /** Records write intents (one per id: a new one replaces the id's old one). See core/write-path.ts. */
  putIntents(intents: readonly WriteIntent[]): Promise<void>;
  /** The intents of these ids (with their vectors). */
  getIntents(ids: readonly string[]): Promise<WriteIntent[]>;
  /** The ids of the oldest intents, for the repairer. */
  listIntentIds(limit: number): Promise<string[]>;
  /** Deletes intents; with `writeId` only that write's. Resolves to how many were deleted. */
  deleteIntents(ids: readonly string[], options?: { writeId?: string }): Promise<number>;
  countIntents(): Promise<number>;
  /**
   * Runs `fn` on ONE connection holding Postgres advisory locks on the given catalogs, then ids (taken in
   * a fixed order, so two lockers never deadlock; released when `fn` settles, or by Postgres when the
   * connection dies). Writers and repair take the same locks, so at most one of them works on an id at
   * a time, for the whole of its write across both stores. Called on a store `fn` received, it reuses
   * that connection (locks are re-entrant). With `skipLocked`, ids held by someone else are not waited
   * for: `fn` gets the ids it did lock.
   */
  withLocks<T>(keys: LockKeys, fn: (store: MetadataStore, locked: string[]) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` with a store bound to one transaction: everything it does commits together when `fn`
   * resolves and rolls back when it throws (its error is rethrown as-is). A nested call runs on the same
   * connection, inside a savepoint.
   */
  transaction<T>(fn: (store: MetadataStore) => Promise<T>): Promise<T>;
  /** Resolves when Postgres answers and `dq_embeddings` exists; for readiness checks. */
  ping(): Promise<void>;
}

export interface LockKeys {
  ids?: readonly string[];
  catalogIds?: readonly string[];
  /** Try-lock the ids (not the catalogs): skip those held elsewhere. */
  skipLocked?: boolean;
}

export interface TableRef {
  schema: string;
  table: string;
}

export interface ListRowsOptions {
  catalogId?: string;
  status?: EmbeddingStatus;
  /** Exclusive lower bound on id; omit for the first page. */
  afterId?: string;
  /** Page size, 1..10000. */
  limit: number;
}
