import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { InvalidArgumentError } from "../core/errors.js";
import { LIMITS } from "../core/limits.js";
import type { Retrieve, SearchQuery } from "../core/retrieve.js";
import type { EmbeddingStatus } from "../core/types.js";
import { optionalName, requireText, requireUuid } from "../core/validate.js";
import {
  InclusionReason,
  RetrievalService,
  RetrieveContextResponseSchema,
  type SearchEmbeddingsRequest,
  SearchEmbeddingsResponseSchema,
} from "../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { embeddingToProto, queryVectorFromProto, statusFromProto } from "./convert.js";
import type { InclusionReason as DomainReason } from "../core/context/assemble.js";

const REASONS: Record<DomainReason, InclusionReason> = {
  direct_hit: InclusionReason.DIRECT_HIT,
  key_column: InclusionReason.KEY_COLUMN,
  join_bridge: InclusionReason.JOIN_BRIDGE,
  table_context: InclusionReason.TABLE_CONTEXT,
};

export interface RetrievalServiceDeps {
  retrieve: Retrieve;
  dimensions: number;
}

/** RetrievalService handlers: validate and translate, call the core, let errors propagate. */
export function registerRetrievalService(router: ConnectRouter, deps: RetrievalServiceDeps): void {
  const { retrieve, dimensions } = deps;
  router.service(RetrievalService, {
    async searchEmbeddings(request, context) {
      const query = searchQueryFromProto(request, dimensions);
      const hits = await retrieve.search({ ...query, signal: context.signal });
      return create(SearchEmbeddingsResponseSchema, {
        hits: hits.map((hit) => ({ embedding: embeddingToProto(hit.row), score: hit.score })),
      });
    },

    async retrieveContext(request, context) {
      const catalogId = requireUuid(request.catalogId, "catalog_id");
      const question = requireText(request.question, "question", LIMITS.maxQuestionBytes);
      const maxChunks = request.maxChunks === 0 ? LIMITS.defaultContextChunks : request.maxChunks;
      if (maxChunks > LIMITS.maxContextChunks) {
        throw new InvalidArgumentError(
          "max_chunks",
          `is ${maxChunks}; the limit is 1 to ${LIMITS.maxContextChunks} (0 means ${LIMITS.defaultContextChunks})`,
        );
      }
      const maxTokens = request.maxTokens === 0 ? LIMITS.defaultContextTokens : request.maxTokens;
      if (maxTokens < LIMITS.minContextTokens || maxTokens > LIMITS.maxContextTokens) {
        throw new InvalidArgumentError(
          "max_tokens",
          `is ${maxTokens}; it must be ${LIMITS.minContextTokens} to ${LIMITS.maxContextTokens} (0 means ${LIMITS.defaultContextTokens})`,
        );
      }
      if (request.minRelevance !== undefined && !(request.minRelevance >= -1 && request.minRelevance <= 1)) {
        throw new InvalidArgumentError("min_relevance", "must be a cosine similarity between -1 and 1");
      }
      const result = await retrieve.retrieveContext({
        catalogId,
        question,
        schemaName: optionalName(request.schemaName, "schema_name") ?? undefined,
        maxChunks,
        maxTokens,
        minRelevance: request.minRelevance,
        signal: context.signal,
      });
      return create(RetrieveContextResponseSchema, {
        tables: result.tables.map((table) => ({
          schemaName: table.schema,
          tableName: table.table,
          score: table.score,
          reason: REASONS[table.reason],
          chunkIds: table.chunkIds,
        })),
        chunks: result.chunks.map((chunk) => ({
          embedding: embeddingToProto(chunk.row),
          score: chunk.score,
          reason: REASONS[chunk.reason],
          tokenCount: chunk.tokens,
        })),
        contextText: result.text,
        tokenCount: result.tokens,
        insufficientContext: result.insufficientContext,
        relevanceFloor: result.relevanceFloor,
        truncated: result.truncated,
      });
    },
  });
}

export function searchQueryFromProto(
  request: SearchEmbeddingsRequest,
  dimensions: number,
): Omit<SearchQuery, "signal"> {
  const catalogId = requireUuid(request.catalogId, "catalog_id");
  const query: Omit<SearchQuery, "signal"> = {
    filter: {
      catalogId,
      kinds: request.kinds.map((kind, index) => requireText(kind, `kinds[${index}]`, LIMITS.maxKindBytes)),
      schemaName: optionalName(request.schemaName, "schema_name") ?? undefined,
      tableName: optionalName(request.tableName, "table_name") ?? undefined,
      statuses: request.statuses.map((status, index) => {
        const domain = statusFromProto(status, `statuses[${index}]`);
        if (domain === undefined) {
          throw new InvalidArgumentError(`statuses[${index}]`, "must not be EMBEDDING_STATUS_UNSPECIFIED");
        }
        return domain;
      }) satisfies EmbeddingStatus[],
    },
    limit: request.limit === 0 ? LIMITS.defaultSearchLimit : request.limit,
    offset: request.offset,
    scoreThreshold: request.scoreThreshold,
  };
  if (request.kinds.length > LIMITS.maxKindFilters) {
    throw new InvalidArgumentError(
      "kinds",
      `has ${request.kinds.length} values; the limit is ${LIMITS.maxKindFilters}`,
    );
  }
  if (query.limit > LIMITS.maxSearchLimit) {
    throw new InvalidArgumentError(
      "limit",
      `is ${query.limit}; the limit is 1 to ${LIMITS.maxSearchLimit} (0 means ${LIMITS.defaultSearchLimit})`,
    );
  }
  if (query.offset > LIMITS.maxSearchOffset) {
    throw new InvalidArgumentError("offset", `is ${query.offset}; the maximum is ${LIMITS.maxSearchOffset}`);
  }
  if (request.scoreThreshold !== undefined && !Number.isFinite(request.scoreThreshold)) {
    throw new InvalidArgumentError("score_threshold", "must be a finite number");
  }
  switch (request.query.case) {
    case "text":
      query.text = requireText(request.query.value, "text", LIMITS.maxContentBytes);
      break;
    case "vector":
      query.vector = queryVectorFromProto(request.query.value, "vector.values", dimensions);
      break;
    default:
      throw new InvalidArgumentError("query", "is required: set text or vector");
  }
  return query;
}
