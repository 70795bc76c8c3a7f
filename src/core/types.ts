/**
 * Plain domain types shared by the core and the stores. No generated protobuf messages here: the
 * server translates requests into these.
 */

export const EMBEDDING_STATUSES = ["pending", "accepted", "rejected"] as const;
/** `pending`: not reviewed yet, retrievable. `accepted`: reviewed. `rejected`: excluded from retrieval. */
export type EmbeddingStatus = (typeof EMBEDDING_STATUSES)[number];

/** One row of `dq_embeddings` as the metadata store returns it. */
export interface EmbeddingRow {
  id: string;
  catalogId: string;
  kind: string;
  content: string;
  metadata: Record<string, unknown>;
  schemaName: string | null;
  tableName: string | null;
  status: EmbeddingStatus;
  /** Hex sha256 of `content`; with `model`, decides whether an upsert must re-embed. */
  contentHash: string;
  model: string;
  qdrantPointId: string | null;
  /** Epoch milliseconds. */
  createdAt: number;
  updatedAt: number;
}

/** What an upsert writes to Postgres (timestamps are the store's business). */
export type EmbeddingRowInput = Omit<EmbeddingRow, "createdAt" | "updatedAt">;

/** The Qdrant payload of a point; keys are the ones retrieval filters on. */
export interface PointPayload {
  catalog_id: string;
  kind: string;
  schema: string | null;
  table: string | null;
  status: EmbeddingStatus;
  content_hash: string;
  model: string;
}

/**
 * A write in progress, recorded in Postgres before Qdrant is touched (core/write-path.ts). `upsert`
 * carries the target row and the exact vector of its point; `delete` and `status` need neither (the row
 * is already final).
 */
export interface WriteIntent {
  id: string;
  writeId: string;
  op: "upsert" | "delete" | "status";
  /** The catalog written, where known (for logs and metrics). */
  catalogId?: string;
  target?: EmbeddingRowInput;
  vector?: Float32Array;
}
