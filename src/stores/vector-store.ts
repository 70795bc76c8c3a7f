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
  limit: number;
  offset?: number;
  scoreThreshold?: number;
  signal?: AbortSignal;
}

export interface VectorHit {
  id: string;
  score: number;
}

/** Dense and sparse candidates of one query, fused by the service (RRF with stable ties). */
export interface HybridSearch {
  filter: VectorFilter;
  vector: Float32Array;
  sparse: SparseVector;
  /** Fused hits to return. */
  limit: number;
  /** Candidates each list brings. */
  candidates: number;
  /** Dense candidates at or below this cosine are left out (sparse ones need a shared term). */
  denseThreshold?: number;
  signal?: AbortSignal;
}

/** What retrieval reads of a hit's payload: where its chunk sits, and its content hash (for ties). */
export type HitPayload = Pick<PointPayload, "kind" | "schema" | "table" | "content_hash">;

export interface HybridHits {
  /** Best fused score first, equal scores by content hash then point id. */
  hits: Array<{ id: string; score: number; payload: HitPayload }>;
  /** The best dense score among the candidates; undefined when none passed `denseThreshold`. */
  bestDense: number | undefined;
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
  /** Both candidate lists in ONE request to the store, fused here. */
  searchHybrid(query: HybridSearch): Promise<HybridHits>;
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
