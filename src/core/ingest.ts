import { isDeepStrictEqual } from "node:util";
import type { Logger } from "pino";
import type { Embedder } from "../embedders/embedder.js";
import type { MetadataStore } from "../stores/metadata-store.js";
import type { VectorStore } from "../stores/vector-store.js";
import { DomainError, FailedPreconditionError, NotFoundError } from "./errors.js";
import { contentHash } from "./hash.js";
import { mapInSlices } from "./slices.js";
import { payloadOf, pointOf, samePayload } from "./points.js";
import { createWritePath, throwIfAborted, type WritePath } from "./write-path.js";
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
  /** The write path (core/write-path.ts); built from the other deps when absent. */
  writePath?: WritePath;
}

/** Where a write runs: a store that already holds locks (catalog sync, catalog delete) is reused. */
export interface WriteOptions {
  signal?: AbortSignal;
  store?: MetadataStore;
}

export interface Ingest {
  /** Writes all inputs or none: both stores hold every write when it resolves. */
  upsert(inputs: readonly UpsertInput[], options?: WriteOptions): Promise<UpsertResult>;
  /** One embedding of `catalogId`; an id of another catalog is NOT_FOUND, exactly like an unknown one. */
  get(
    id: string,
    options: { catalogId: string; withVector?: boolean },
  ): Promise<{ row: EmbeddingRow; vector?: Float32Array }>;
  /** Deletes an embedding of `catalogId` from both stores; resolves to whether a row existed. */
  delete(id: string, options: { catalogId: string; allowMissing?: boolean }): Promise<boolean>;
  /**
   * Deletes all or none; with `requireAll` an unknown id fails the whole call with NOT_FOUND. With
   * `catalogId` only that catalog's rows (others count as missing); with `status` only rows that still
   * have it when the delete runs.
   */
  deleteMany(
    ids: readonly string[],
    options?: WriteOptions & { catalogId?: string; requireAll?: boolean; status?: EmbeddingStatus },
  ): Promise<DeleteManyResult>;
  /** Sets the status of embeddings of `catalogId` in Postgres, then in Qdrant's payload. */
  updateStatus(
    ids: readonly string[],
    status: EmbeddingStatus,
    options: { catalogId: string },
  ): Promise<{ updated: string[]; missing: string[] }>;
}

export function createIngest(deps: IngestDeps): Ingest {
  const { metadata, vectors, embedder } = deps;
  const writePath = deps.writePath ?? createWritePath({ metadata, vectors, logger: deps.logger });

  async function upsert(inputs: readonly UpsertInput[], options: WriteOptions = {}): Promise<UpsertResult> {
    const ids = inputs.map((input) => input.id);
    let embeddedCount = 0;
    let embeddedTokens = 0;
    let plan: PlannedWrite[] = [];
    const known = new Map<string, Float32Array>();
    const result = (): UpsertResult => ({
      outcomes: plan.map((item) => item.outcome),
      rows: plan.map((item) => item.row),
      embeddedCount,
      embeddedTokens,
    });

    // Embedding is slow (an API call): do it before taking the locks, from an unlocked read, so no
    // lock or pooled connection waits on the embedder. The vectors are only a cache keyed by content
    // hash: the plan that counts is made again under the locks, and embeds whatever it still lacks.
    const embeddedByHash = new Map<string, Float32Array>();
    const embedMissing = async (items: readonly PlannedWrite[]) => {
      // One text per distinct content; an embedder error names the first id that carries it.
      const wanted = [
        ...new Map(
          items
            .filter((item) => !embeddedByHash.has(item.row.contentHash))
            .reverse()
            .map((item) => [item.row.contentHash, item.row]),
        ).entries(),
      ].reverse();
      if (wanted.length === 0) {
        return;
      }
      const embedded = await embedder.embed(
        wanted.map(([, row]) => ({ id: row.id, text: row.content })),
        { signal: options.signal },
      );
      wanted.forEach(([hash], index) => embeddedByHash.set(hash, embedded[index]));
      // Tokens as the embedder reports them for what it was sent (no second tokenizer pass).
      embeddedTokens += embedded.tokens;
    };
    // Each text is hashed once, for both plans; in slices (1,000 x 64 KiB is a quarter second of SHA-256).
    const hashes = await mapInSlices(inputs, (input) => contentHash(input.content));
    try {
      // Callers that send every vector (streams of precomputed embeddings) have nothing to embed.
      if (inputs.some((input) => input.vector === undefined)) {
        const unlocked = new Map((await (options.store ?? metadata).getRows(ids)).map((row) => [row.id, row]));
        await embedMissing(
          inputs
            .map((input, index) => planUpsert(input, index, unlocked.get(input.id), embedder.model, hashes[index]))
            .filter((item) => item.needsEmbedding),
        );
      }
    } catch (error) {
      // A refusal or failure here is decided again under the locks; only a caller's abort ends the call now.
      throwIfAborted(options.signal);
      if (!(error instanceof DomainError) || error.kind === "unavailable") {
        throw error;
      }
    }

    return writePath.runWrite<UpsertResult>(
      {
        op: "upsert",
        ids,
        signal: options.signal,
        async plan(locked) {
          // Read under the locks: nobody else writes these ids until this write is done.
          const existing = new Map((await locked.getRows(ids)).map((row) => [row.id, row]));
          plan = inputs.map((input, index) =>
            planUpsert(input, index, existing.get(input.id), embedder.model, hashes[index]),
          );

          // "Unchanged" only when the point is there and agrees: a retry never skips a missing point.
          const unchanged = plan.filter((item) => item.outcome === "unchanged");
          if (unchanged.length > 0) {
            const points = new Map(
              (
                await vectors.get(
                  unchanged.map((item) => item.row.id),
                  { signal: options.signal },
                )
              ).map((point) => [point.id, point.payload]),
            );
            for (const item of unchanged) {
              const payload = points.get(item.row.id);
              if (payload === undefined || !samePayload(payload, payloadOf(item.row))) {
                item.outcome = "updated";
              }
            }
          }
          const toWrite = plan.filter((item) => item.outcome !== "unchanged");
          if (toWrite.length === 0) {
            return { done: result() };
          }

          // Vectors: given by the caller, reused from Qdrant (only metadata or filters changed), or embedded.
          const reuse = toWrite.filter((item) => item.vector === undefined && !item.needsEmbedding);
          if (reuse.length > 0) {
            const stored = new Map(
              (
                await vectors.get(
                  reuse.map((item) => item.row.id),
                  { withVector: true, signal: options.signal },
                )
              ).map((point) => [point.id, point]),
            );
            for (const item of reuse) {
              const point = stored.get(item.row.id);
              // Reused only when the point holds the vector of this very content and model.
              const fits =
                point?.vector !== undefined &&
                point.payload.content_hash === item.row.contentHash &&
                point.payload.model === item.row.model;
              item.vector = fits ? point.vector : undefined;
              item.needsEmbedding = !fits;
            }
          }
          const toEmbed = toWrite.filter((item) => item.needsEmbedding);
          if (toEmbed.length > 0) {
            // Normally all embedded before the locks; only text changed meanwhile is embedded here.
            await embedMissing(toEmbed);
            for (const item of toEmbed) {
              item.vector = embeddedByHash.get(item.row.contentHash);
            }
            embeddedCount = toEmbed.length;
          }
          for (const item of toWrite) {
            known.set(item.row.id, item.vector as Float32Array);
          }
          return {
            record: async () => ({
              // Only an update records its vector (a dead one is finished forward); a create is rolled
              // back if it dies, so its 12 KiB vector is not written to Postgres twice.
              intents: toWrite.map((item) => ({
                id: item.row.id,
                op: "upsert" as const,
                catalogId: item.row.catalogId,
                target: item.row,
                vector: existing.has(item.row.id) ? item.vector : undefined,
              })),
              result: result(),
            }),
          };
        },
        knownVectors: () => known,
        // Points in slices: each one's sparse vector tokenizes its whole text.
        applyVectors: async (intents) =>
          vectors.upsert(
            await mapInSlices(intents, (intent) =>
              pointOf(intent.target as EmbeddingRowInput, known.get(intent.id) as Float32Array),
            ),
          ),
        async applyRows(tx, intents) {
          const targets = intents.map((intent) => intent.target as EmbeddingRowInput);
          const written = new Set(await tx.upsertRows(targets));
          const refused = targets.find((row) => !written.has(row.id));
          if (refused !== undefined) {
            // The statement's tenant guard: only reachable if a row changed catalog outside the locks.
            throw new FailedPreconditionError(
              `id: embedding ${refused.id} belongs to another catalog; ids are global, choose a new id`,
            );
          }
        },
      },
      options.store,
    );
  }

  async function deleteMany(
    ids: readonly string[],
    options: WriteOptions & {
      catalogId?: string;
      requireAll?: boolean;
      status?: EmbeddingStatus;
      notFound?: (missing: string[]) => string;
    } = {},
  ): Promise<DeleteManyResult> {
    return writePath.runWrite<DeleteManyResult>(
      {
        op: "delete",
        ids,
        signal: options.signal,
        plan: async () => ({
          // Postgres first: from this commit on, retrieval drops the hits (their rows are gone).
          async record(tx) {
            const found = new Set(await tx.deleteRows(ids, { catalogId: options.catalogId, status: options.status }));
            const missing = ids.filter((id) => !found.has(id));
            if (options.requireAll && missing.length > 0) {
              // Throwing rolls the row deletes back: nothing is deleted.
              throw new NotFoundError(
                options.notFound?.(missing) ??
                  `${missing.length} of the ids do not exist${options.catalogId === undefined ? "" : ` in catalog ${options.catalogId}`} (first: ${missing[0]}); nothing was deleted`,
              );
            }
            const deleted = ids.filter((id) => found.has(id));
            return {
              intents: deleted.map((id) => ({ id, op: "delete" as const, catalogId: options.catalogId })),
              result: { deleted, missing },
            };
          },
        }),
        applyVectors: (intents) => vectors.delete(intents.map((intent) => intent.id)),
      },
      options.store,
    );
  }

  return {
    upsert,
    deleteMany,

    async get(id, options) {
      const [row] = await metadata.getRows([id], { catalogId: options.catalogId });
      if (row === undefined) {
        throw new NotFoundError(`id: embedding ${id} does not exist in catalog ${options.catalogId}`);
      }
      if (!options.withVector) {
        return { row };
      }
      const [point] = await vectors.get([id], { withVector: true });
      return { row, vector: point?.vector };
    },

    async delete(id, options) {
      const result = await deleteMany([id], {
        catalogId: options.catalogId,
        requireAll: !options.allowMissing,
        notFound: () => `id: embedding ${id} does not exist in catalog ${options.catalogId}`,
      });
      return result.deleted.length > 0;
    },

    async updateStatus(ids, status, options) {
      return writePath.runWrite({
        op: "status",
        ids,
        plan: async () => ({
          // Postgres first: retrieval checks the row's status, so from this commit on it obeys it.
          async record(tx) {
            const found = new Set(await tx.updateStatus(ids, status, { catalogId: options.catalogId }));
            const updated = ids.filter((id) => found.has(id));
            return {
              intents: updated.map((id) => ({ id, op: "status" as const, catalogId: options.catalogId })),
              result: { updated, missing: ids.filter((id) => !found.has(id)) },
            };
          },
        }),
        applyVectors: (intents) =>
          vectors.setStatus(
            intents.map((intent) => intent.id),
            status,
          ),
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
export function planUpsert(
  input: UpsertInput,
  index: number,
  existing: EmbeddingRow | undefined,
  embedderModel: string,
  hash: string = contentHash(input.content),
): PlannedWrite {
  if (existing !== undefined && existing.catalogId !== input.catalogId) {
    throw new FailedPreconditionError(
      `embeddings[${index}].id: embedding ${input.id} belongs to another catalog; ids are global, choose a new id`,
    );
  }
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
    // Key order aside (jsonb reorders keys), the same JSON.
    isDeepStrictEqual(existing.metadata, row.metadata);
  return {
    row,
    outcome: unchanged ? "unchanged" : "updated",
    vector: input.vector,
    needsEmbedding: input.vector === undefined && !sameText,
  };
}

export { payloadOf, pointOf } from "./points.js";
