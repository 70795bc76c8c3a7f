import type { Logger } from "pino";
import type { Embedder } from "../embedders/embedder.js";
import { encodeSparse } from "../embedders/sparse-encoder.js";
import type { MetadataStore } from "../stores/metadata-store.js";
import type { VectorPoint, VectorStore } from "../stores/vector-store.js";
import { FailedPreconditionError, InternalError, NotFoundError } from "./errors.js";
import { contentHash } from "./hash.js";
import { sameJson } from "./json.js";
import type { EmbeddingRow, EmbeddingRowInput, EmbeddingStatus } from "./types.js";

/** The model recorded for vectors the caller computed. */
export const PRECOMPUTED_MODEL = "precomputed";

export interface UpsertInput {
  id: string;
  catalogId: string;
  kind: string;
  content: string;
  metadata: Record<string, unknown>;
  schemaName: string | null;
  tableName: string | null;
  /** A precomputed, validated vector; absent means "embed the content". */
  vector?: Float32Array;
  /** Absent keeps the stored status (or `pending` for a new embedding). */
  status?: EmbeddingStatus;
}

export type UpsertOutcome = "created" | "updated" | "unchanged";

export interface UpsertResult {
  outcomes: UpsertOutcome[];
  /** The rows as written (or as they were, for unchanged ones), in input order. */
  rows: EmbeddingRowInput[];
  /** Texts sent to the embedder, and their tokens as the embedder counts them. */
  embeddedCount: number;
  embeddedTokens: number;
}

export interface DeleteManyResult {
  deleted: string[];
  missing: string[];
}

export interface IngestDeps {
  metadata: MetadataStore;
  vectors: VectorStore;
  embedder: Embedder;
  logger: Logger;
}

export interface Ingest {
  /** Writes all inputs or none: both stores hold every write when it resolves. */
  upsert(inputs: readonly UpsertInput[], options?: { signal?: AbortSignal }): Promise<UpsertResult>;
  get(id: string, options?: { withVector?: boolean }): Promise<{ row: EmbeddingRow; vector?: Float32Array }>;
  /** Deletes from both stores; resolves to whether a row existed. */
  delete(id: string, options?: { allowMissing?: boolean }): Promise<boolean>;
  /** Deletes all or none; with `requireAll` an unknown id fails the whole call with NOT_FOUND. */
  deleteMany(ids: readonly string[], options?: { requireAll?: boolean }): Promise<DeleteManyResult>;
  /** Sets the status in Postgres and in Qdrant's payload, together. */
  updateStatus(ids: readonly string[], status: EmbeddingStatus): Promise<{ updated: string[]; missing: string[] }>;
}

export function createIngest(deps: IngestDeps): Ingest {
  const { metadata, vectors, embedder, logger } = deps;

  async function upsert(inputs: readonly UpsertInput[], options: { signal?: AbortSignal } = {}): Promise<UpsertResult> {
    const existing = new Map((await metadata.getRows(inputs.map((input) => input.id))).map((row) => [row.id, row]));
    const plan = inputs.map((input, index) => planUpsert(input, index, existing.get(input.id), embedder.model));

    const toWrite = plan.filter((item) => item.outcome !== "unchanged");
    if (toWrite.length === 0) {
      return { outcomes: plan.map((item) => item.outcome), rows: plan.map((item) => item.row), embeddedCount: 0, embeddedTokens: 0 };
    }

    // Vectors: given by the caller, reused from Qdrant (only metadata or filters changed), or embedded.
    const reuse = toWrite.filter((item) => item.vector === undefined && !item.needsEmbedding);
    if (reuse.length > 0) {
      const stored = new Map((await vectors.get(reuse.map((item) => item.row.id), { withVector: true, signal: options.signal })).map((point) => [point.id, point.vector]));
      for (const item of reuse) {
        item.vector = stored.get(item.row.id);
        // A row whose point is gone (drift) is healed by embedding its content again.
        item.needsEmbedding = item.vector === undefined;
      }
    }
    const toEmbed = toWrite.filter((item) => item.needsEmbedding);
    let embeddedTokens = 0;
    if (toEmbed.length > 0) {
      const embedded = await embedder.embed(
        toEmbed.map((item) => ({ id: item.row.id, text: item.row.content })),
        { signal: options.signal },
      );
      toEmbed.forEach((item, index) => {
        item.vector = embedded[index];
      });
      embeddedTokens = embedded.tokens;
    }

    const rows = toWrite.map((item) => item.row);
    const points = toWrite.map((item) => pointOf(item.row, item.vector as Float32Array));
    await writeBoth(rows, points, toWrite.filter((item) => item.outcome === "created").map((item) => item.row.id), options.signal);
    return { outcomes: plan.map((item) => item.outcome), rows: plan.map((item) => item.row), embeddedCount: toEmbed.length, embeddedTokens };
  }

  /**
   * Postgres statement, then Qdrant upsert, then commit. Qdrant failing rolls Postgres back; a failed
   * commit after Qdrant accepted the points is compensated by deleting the points of new ids (points of
   * overwritten ids keep a content hash their row does not have, which reconcile reports).
   */
  async function writeBoth(rows: EmbeddingRowInput[], points: VectorPoint[], createdIds: string[], signal?: AbortSignal): Promise<void> {
    let upserting: Promise<void> | undefined;
    try {
      await metadata.transaction(async (tx) => {
        await tx.upsertRows(rows);
        upserting = vectors.upsert(points, { signal });
        await upserting;
      });
    } catch (error) {
      // The transaction can fail (its connection killed) while the Qdrant write is still in flight:
      // wait for that write to settle, and undo it if it landed.
      if (upserting !== undefined && (await upserting.then(() => true, () => false))) {
        await compensate(createdIds, error);
      }
      throw error;
    }
  }

  async function compensate(createdIds: string[], cause: unknown): Promise<void> {
    try {
      await vectors.delete(createdIds);
      logger.warn({ ids: createdIds.length }, "Postgres commit failed after the Qdrant write; deleted the new points");
    } catch (compensationError) {
      logger.error({ err: compensationError, cause, ids: createdIds }, "compensation failed: points without rows remain until reconcile");
      throw new InternalError("the write failed half-way and could not be undone; run ReconcileEmbeddings with repair", {
        cause: compensationError,
        ids: createdIds,
      });
    }
  }

  return {
    upsert,

    async get(id, options = {}) {
      const [row] = await metadata.getRows([id]);
      if (row === undefined) {
        throw new NotFoundError(`embedding ${id} does not exist`);
      }
      if (!options.withVector) {
        return { row };
      }
      const [point] = await vectors.get([id], { withVector: true });
      return { row, vector: point?.vector };
    },

    async delete(id, options = {}) {
      let deleted = false;
      await metadata.transaction(async (tx) => {
        deleted = (await tx.deleteRows([id])).length > 0;
        if (!deleted && !options.allowMissing) {
          throw new NotFoundError(`embedding ${id} does not exist`);
        }
        // Deleting the point even without a row also clears an orphan left by drift.
        await vectors.delete([id]);
      });
      return deleted;
    },

    async deleteMany(ids, options = {}) {
      return metadata.transaction(async (tx) => {
        const deleted = await tx.deleteRows(ids);
        const found = new Set(deleted);
        const missing = ids.filter((id) => !found.has(id));
        if (options.requireAll && missing.length > 0) {
          // Throwing rolls the row deletes back: nothing is deleted.
          throw new NotFoundError(`${missing.length} of the ids do not exist (first: ${missing[0]}); nothing was deleted`);
        }
        await vectors.delete(ids);
        return { deleted: ids.filter((id) => found.has(id)), missing };
      });
    },

    async updateStatus(ids, status) {
      return metadata.transaction(async (tx) => {
        const updated = await tx.updateStatus(ids, status);
        await vectors.setStatus(updated, status);
        const found = new Set(updated);
        return { updated: ids.filter((id) => found.has(id)), missing: ids.filter((id) => !found.has(id)) };
      });
    },
  };
}

export interface PlannedWrite {
  row: EmbeddingRowInput;
  outcome: UpsertOutcome;
  vector: Float32Array | undefined;
  needsEmbedding: boolean;
}

/**
 * What an upsert of `input` will do given the stored row: create, update (re-embedding only when the
 * text or model changed) or leave it unchanged. Pure; catalog sync uses it for its dry run.
 */
export function planUpsert(input: UpsertInput, index: number, existing: EmbeddingRow | undefined, embedderModel: string): PlannedWrite {
  if (existing !== undefined && existing.catalogId !== input.catalogId) {
    throw new FailedPreconditionError(
      `embeddings[${index}].id: embedding ${input.id} belongs to another catalog; ids are global, choose a new id`,
    );
  }
  const hash = contentHash(input.content);
  const model = input.vector === undefined ? embedderModel : PRECOMPUTED_MODEL;
  const row: EmbeddingRowInput = {
    id: input.id,
    catalogId: input.catalogId,
    kind: input.kind,
    content: input.content,
    metadata: input.metadata,
    schemaName: input.schemaName,
    tableName: input.tableName,
    status: input.status ?? existing?.status ?? "pending",
    contentHash: hash,
    model,
    qdrantPointId: input.id,
  };
  if (existing === undefined) {
    return { row, outcome: "created", vector: input.vector, needsEmbedding: input.vector === undefined };
  }
  const sameText = existing.contentHash === hash && existing.model === model;
  // A precomputed vector is always written: the caller may have changed it without changing the text.
  const unchanged =
    input.vector === undefined &&
    sameText &&
    existing.kind === row.kind &&
    existing.schemaName === row.schemaName &&
    existing.tableName === row.tableName &&
    existing.status === row.status &&
    existing.qdrantPointId === row.qdrantPointId &&
    sameJson(existing.metadata, row.metadata);
  return {
    row,
    outcome: unchanged ? "unchanged" : "updated",
    vector: input.vector,
    needsEmbedding: input.vector === undefined && !sameText,
  };
}

/**
 * The Qdrant point of a row: its dense vector, a sparse lexical vector of its content (Qdrant applies
 * IDF to it at query time) and the payload retrieval filters on. Every writer builds points here.
 */
export function pointOf(row: EmbeddingRowInput, vector: Float32Array): VectorPoint {
  return { id: row.id, vector, sparse: encodeSparse(row.content), payload: payloadOf(row) };
}

export function payloadOf(row: EmbeddingRowInput) {
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

