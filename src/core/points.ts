import { encodeSparse } from "../embedders/sparse-encoder.js";
import type { VectorPoint } from "../stores/vector-store.js";
import type { EmbeddingRowInput, PointPayload } from "./types.js";

/**
 * The Qdrant point of a row: its dense vector, a sparse lexical vector of its content (Qdrant applies
 * IDF to it at query time) and the payload retrieval filters on. Every writer builds points here.
 */
export function pointOf(row: EmbeddingRowInput, vector: Float32Array): VectorPoint {
  return { id: row.id, vector, sparse: encodeSparse(row.content), payload: payloadOf(row) };
}

export function payloadOf(row: EmbeddingRowInput): PointPayload {
  return {
    catalog_id: row.catalogId,
    kind: row.kind,
    schema: row.schemaName,
    table: row.tableName,
    status: row.status,
    content_hash: row.contentHash,
    model: row.model,
  };
}

/** Whether a point's payload is the one its row calls for (catalog, filters, status, content hash, model). */
export function samePayload(a: PointPayload, b: PointPayload): boolean {
  return (
    a.catalog_id === b.catalog_id &&
    a.kind === b.kind &&
    a.schema === b.schema &&
    a.table === b.table &&
    a.status === b.status &&
    a.content_hash === b.content_hash &&
    a.model === b.model
  );
}
