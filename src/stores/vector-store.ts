import type { EmbeddingStatus, PointPayload } from "../core/types.js";

/**
 * The vector store: Qdrant points keyed by the Postgres id. It knows nothing of Postgres; the core keeps
 * the two stores in step.
 */

export interface SparseVector {
  indices: Uint32Array;
  values: Float32Array;
}

export interface VectorPoint {
  id: string;
  /** Exactly `dimensions` finite floats. A view over request bytes is fine: it is only read. */
  vector: Float32Array;
  sparse?: SparseVector;
  payload: PointPayload;
}

export interface VectorFilter {
  /** Required: every read is scoped to one catalog, except reconcile's scan of everything. */
  catalogId: string;
  kinds?: readonly string[];
  schemaName?: string;
  tableName?: string;
  /** Statuses to include; empty or undefined means every status but `rejected`. */
  statuses?: readonly EmbeddingStatus[];
}

export interface VectorSearch {
  filter: VectorFilter;
  vector: Float32Array;
  /** When given, dense and sparse candidates are fused (RRF) in one Query. */
  sparse?: SparseVector;
  limit: number;
  offset?: number;
  scoreThreshold?: number;
  /** In a fused search, dense candidates below this cosine are left out (sparse ones need a shared term). */
  denseThreshold?: number;
  /** Candidates each branch of a fused search brings (default: 4x the page, at least 50). */
  candidates?: number;
  /** Return each hit's payload (retrieval groups hits by table without asking Postgres first). */
  withPayload?: boolean;
  signal?: AbortSignal;
}

export interface VectorHit {
  id: string;
  score: number;
  payload?: PointPayload;
}

export interface StoredPoint {
  id: string;
  payload: PointPayload;
  vector?: Float32Array;
}

export interface VectorStore {
  /** Creates the collection and payload indexes if missing; fails if it exists with another shape. */
  start(): Promise<void>;
  upsert(points: readonly VectorPoint[], options?: { signal?: AbortSignal }): Promise<void>;
  delete(ids: readonly string[], options?: { signal?: AbortSignal }): Promise<void>;
  /** Deletes every point of a catalog (with `status`, only those), including points without rows. */
  deleteCatalog(catalogId: string, options?: { status?: EmbeddingStatus }): Promise<void>;
  get(ids: readonly string[], options?: { withVector?: boolean; signal?: AbortSignal }): Promise<StoredPoint[]>;
  search(query: VectorSearch): Promise<VectorHit[]>;
  setStatus(ids: readonly string[], status: EmbeddingStatus): Promise<void>;
  /** Pages through points in id order; `catalogId` undefined means every catalog. */
  scroll(options: {
    catalogId?: string;
    afterId?: string;
    limit: number;
  }): Promise<{ points: StoredPoint[]; nextId?: string }>;
  /** Resolves when the store answers; throws UnavailableError otherwise. */
  ping(): Promise<void>;
}
