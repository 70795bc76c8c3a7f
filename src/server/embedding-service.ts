import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import type { Ingest } from "../core/ingest.js";
import { requireUuid } from "../core/validate.js";
import {
  DeleteEmbeddingResponseSchema,
  EmbeddingService,
  GetEmbeddingResponseSchema,
  UpsertEmbeddingResponseSchema,
} from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { embeddingInputFromProto, embeddingToProto, outcomeToProto } from "./convert.js";
import { unimplemented } from "./errors.js";

export interface EmbeddingServiceDeps {
  ingest: Ingest;
  dimensions: number;
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

    async getEmbedding(request) {
      const id = requireUuid(request.id, "id");
      const { row, vector } = await ingest.get(id, { withVector: request.includeVector });
      return create(GetEmbeddingResponseSchema, { embedding: embeddingToProto(row, vector) });
    },

    async deleteEmbedding(request) {
      const id = requireUuid(request.id, "id");
      const deleted = await ingest.delete(id, { allowMissing: request.allowMissing });
      return create(DeleteEmbeddingResponseSchema, { deleted });
    },

    batchUpsertEmbeddings() {
      return unimplemented("BatchUpsertEmbeddings", "atomic batch upserts arrive with the complete EmbeddingService");
    },
    // eslint-disable-next-line require-yield
    async *streamUpsertEmbeddings() {
      unimplemented("StreamUpsertEmbeddings", "streaming upserts arrive with the complete EmbeddingService");
    },
    createEmbeddingsForCatalog() {
      return unimplemented("CreateEmbeddingsForCatalog", "catalog indexing arrives with the complete EmbeddingService");
    },
    batchDeleteEmbeddings() {
      return unimplemented("BatchDeleteEmbeddings", "batch deletes arrive with the complete EmbeddingService");
    },
    deleteCatalogEmbeddings() {
      return unimplemented("DeleteCatalogEmbeddings", "catalog deletes arrive with the complete EmbeddingService");
    },
    updateEmbeddingStatus() {
      return unimplemented("UpdateEmbeddingStatus", "status updates arrive with the complete EmbeddingService");
    },
    cleanupRejectedEmbeddings() {
      return unimplemented("CleanupRejectedEmbeddings", "rejected-embedding cleanup arrives with the complete EmbeddingService");
    },
    reconcileEmbeddings() {
      return unimplemented("ReconcileEmbeddings", "reconcile arrives with the complete EmbeddingService");
    },
  });
}
