import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import type { BulkDelete } from "../core/bulk-delete.js";
import type { CatalogSync } from "../core/catalog/sync.js";
import { InvalidArgumentError } from "../core/errors.js";
import type { Ingest, UpsertInput } from "../core/ingest.js";
import { LIMITS } from "../core/limits.js";
import type { Reconcile } from "../core/reconcile.js";
import { streamUpsert, type StreamMessage, type StreamUpsertOptions } from "../core/stream-upsert.js";
import { mapInSlices } from "../core/slices.js";
import { requireUniqueIds, requireUuid } from "../core/validate.js";
import type { EmbeddingInput } from "../../gen/dq/embeddings/v1/embedding_pb.js";
import {
  BatchDeleteEmbeddingsResponseSchema,
  BatchUpsertEmbeddingsResponseSchema,
  CleanupRejectedEmbeddingsResponseSchema,
  CreateEmbeddingsForCatalogResponseSchema,
  DeleteCatalogEmbeddingsResponseSchema,
  DeleteEmbeddingResponseSchema,
  EmbeddingService,
  GetEmbeddingResponseSchema,
  ReconcileEmbeddingsResponseSchema,
  type StreamUpsertEmbeddingsRequest,
  StreamUpsertEmbeddingsResponseSchema,
  UpdateEmbeddingStatusResponseSchema,
  UpsertEmbeddingResponseSchema,
} from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { catalogFromProto } from "./catalog-convert.js";
import { embeddingInputFromProto, embeddingToProto, outcomeToProto, statusFromProto } from "./convert.js";

export interface EmbeddingServiceDeps {
  ingest: Ingest;
  bulkDelete: BulkDelete;
  catalogSync: CatalogSync;
  reconcile: Reconcile;
  dimensions: number;
  stream: Omit<StreamUpsertOptions, "signal">;
}

/** EmbeddingService handlers: validate and translate, call the core, let errors propagate. */
export function registerEmbeddingService(router: ConnectRouter, deps: EmbeddingServiceDeps): void {
  const { ingest, dimensions } = deps;
  router.service(EmbeddingService, {
    async upsertEmbedding(request, context) {
      const input = embeddingInputFromProto(request.embedding, "embedding", dimensions);
      const result = await ingest.upsert([input], { signal: context.signal });
      return create(UpsertEmbeddingResponseSchema, {
        embedding: embeddingToProto(result.rows[0]),
        outcome: outcomeToProto(result.outcomes[0]),
      });
    },

    async batchUpsertEmbeddings(request, context) {
      const inputs = await embeddingInputsFromProto(request.embeddings, "embeddings", dimensions);
      const result = await ingest.upsert(inputs, { signal: context.signal });
      return create(BatchUpsertEmbeddingsResponseSchema, {
        results: result.rows.map((row, index) => ({ id: row.id, outcome: outcomeToProto(result.outcomes[index]) })),
        embeddedCount: result.embeddedCount,
      });
    },

    async *streamUpsertEmbeddings(requests, context) {
      const messages = streamMessagesFromProto(requests, dimensions);
      for await (const ack of streamUpsert(messages, ingest, { ...deps.stream, signal: context.signal })) {
        yield create(StreamUpsertEmbeddingsResponseSchema, {
          sequence: ack.sequence,
          createdCount: ack.created,
          updatedCount: ack.updated,
          unchangedCount: ack.unchanged,
        });
      }
    },

    async createEmbeddingsForCatalog(request, context) {
      const catalogId = requireUuid(request.catalogId, "catalog_id");
      if (request.catalog === undefined) {
        throw new InvalidArgumentError("catalog", "is required (send an empty catalog to delete every catalog chunk)");
      }
      const result = await deps.catalogSync.sync(catalogId, catalogFromProto(request.catalog), {
        dryRun: request.dryRun,
        signal: context.signal,
      });
      return create(CreateEmbeddingsForCatalogResponseSchema, {
        addedCount: result.added,
        updatedCount: result.updated,
        unchangedCount: result.unchanged,
        deletedCount: result.deleted,
        tokensEmbedded: BigInt(result.tokens),
        dryRun: result.dryRun,
      });
    },

    async getEmbedding(request) {
      const id = requireUuid(request.id, "id");
      const catalogId = requireUuid(request.catalogId, "catalog_id");
      const { row, vector } = await ingest.get(id, { catalogId, withVector: request.includeVector });
      return create(GetEmbeddingResponseSchema, { embedding: embeddingToProto(row, vector) });
    },

    async deleteEmbedding(request) {
      const id = requireUuid(request.id, "id");
      const catalogId = requireUuid(request.catalogId, "catalog_id");
      const deleted = await ingest.delete(id, { catalogId, allowMissing: request.allowMissing });
      return create(DeleteEmbeddingResponseSchema, { deleted });
    },

    async batchDeleteEmbeddings(request) {
      const ids = idsFromProto(request.ids, "ids");
      const catalogId = requireUuid(request.catalogId, "catalog_id");
      const result = await ingest.deleteMany(ids, { catalogId, requireAll: request.requireAll });
      return create(BatchDeleteEmbeddingsResponseSchema, { deletedIds: result.deleted, missingIds: result.missing });
    },

    async deleteCatalogEmbeddings(request) {
      const catalogId = requireUuid(request.catalogId, "catalog_id");
      const result = await deps.bulkDelete.deleteCatalog(catalogId, { force: request.force });
      return create(DeleteCatalogEmbeddingsResponseSchema, {
        matchedCount: BigInt(result.matched),
        deletedCount: BigInt(result.deleted),
        sampleIds: result.sampleIds,
        dryRun: !request.force,
      });
    },

    async updateEmbeddingStatus(request) {
      const ids = idsFromProto(request.ids, "ids");
      const status = statusFromProto(request.status, "status");
      if (status === undefined) {
        throw new InvalidArgumentError("status", "is required: EMBEDDING_STATUS_PENDING, _ACCEPTED or _REJECTED");
      }
      const catalogId = requireUuid(request.catalogId, "catalog_id");
      const result = await ingest.updateStatus(ids, status, { catalogId });
      return create(UpdateEmbeddingStatusResponseSchema, { updatedIds: result.updated, missingIds: result.missing });
    },

    async cleanupRejectedEmbeddings(request) {
      const catalogId = request.catalogId === "" ? undefined : requireUuid(request.catalogId, "catalog_id");
      const result = await deps.bulkDelete.cleanupRejected({ catalogId, dryRun: request.dryRun });
      return create(CleanupRejectedEmbeddingsResponseSchema, {
        matchedCount: BigInt(result.matched),
        deletedCount: BigInt(result.deleted),
        sampleIds: result.sampleIds,
      });
    },

    async reconcileEmbeddings(request) {
      const catalogId = request.catalogId === "" ? undefined : requireUuid(request.catalogId, "catalog_id");
      const result = await deps.reconcile.reconcile({ catalogId, repair: request.repair });
      return create(ReconcileEmbeddingsResponseSchema, {
        rowsScanned: BigInt(result.rowsScanned),
        pointsScanned: BigInt(result.pointsScanned),
        rowsWithoutPoints: BigInt(result.rowsWithoutPoints),
        pointsWithoutRows: BigInt(result.pointsWithoutRows),
        mismatchedPoints: BigInt(result.mismatchedPoints),
        repairedCount: BigInt(result.repaired),
        sampleIds: result.sampleIds,
      });
    },
  });
}

async function embeddingInputsFromProto(
  inputs: readonly EmbeddingInput[],
  field: string,
  dimensions: number,
): Promise<UpsertInput[]> {
  if (inputs.length === 0) {
    throw new InvalidArgumentError(field, "must hold at least one embedding");
  }
  if (inputs.length > LIMITS.maxBatchEmbeddings) {
    throw new InvalidArgumentError(
      field,
      `holds ${inputs.length} embeddings; the limit is ${LIMITS.maxBatchEmbeddings}`,
    );
  }
  // In slices: a batch of 1,000 is read and checked without holding the event loop throughout.
  const result = await mapInSlices(inputs, (input, index) =>
    embeddingInputFromProto(input, `${field}[${index}]`, dimensions),
  );
  requireUniqueIds(
    result.map((input) => input.id),
    field,
  );
  return result;
}

function idsFromProto(ids: readonly string[], field: string): string[] {
  if (ids.length === 0) {
    throw new InvalidArgumentError(field, "must hold at least one id");
  }
  if (ids.length > LIMITS.maxBatchEmbeddings) {
    throw new InvalidArgumentError(field, `holds ${ids.length} ids; the limit is ${LIMITS.maxBatchEmbeddings}`);
  }
  const result = ids.map((id, index) => requireUuid(id, `${field}[${index}]`));
  const seen = new Set<string>();
  result.forEach((id, index) => {
    if (seen.has(id)) {
      throw new InvalidArgumentError(`${field}[${index}]`, `duplicates id ${id}`);
    }
    seen.add(id);
  });
  return result;
}

/** Validates each stream message as it arrives; a bad one names its sequence number. */
async function* streamMessagesFromProto(
  requests: AsyncIterable<StreamUpsertEmbeddingsRequest>,
  dimensions: number,
): AsyncGenerator<StreamMessage> {
  let index = 0;
  for await (const request of requests) {
    const field = `messages[${index}](sequence=${request.sequence}).embeddings`;
    yield { sequence: request.sequence, inputs: await embeddingInputsFromProto(request.embeddings, field, dimensions) };
    index++;
  }
}
