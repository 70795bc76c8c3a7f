import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { InvalidArgumentError } from "../core/errors.js";
import { LIMITS } from "../core/limits.js";
import type { Retrieve, SearchQuery } from "../core/retrieve.js";
import type { EmbeddingStatus } from "../core/types.js";
import { optionalName, requireText, requireUuid, requireVector } from "../core/validate.js";
import {
  RetrievalService,
  type SearchEmbeddingsRequest,
  SearchEmbeddingsResponseSchema,
} from "../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { embeddingToProto, statusFromProto } from "./convert.js";
import { unimplemented } from "./errors.js";

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

    retrieveContext() {
      return unimplemented("RetrieveContext", "question-to-context retrieval arrives with the complete RetrievalService");
    },
  });
}

export function searchQueryFromProto(request: SearchEmbeddingsRequest, dimensions: number): Omit<SearchQuery, "signal"> {
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
    throw new InvalidArgumentError("kinds", `has ${request.kinds.length} values; the limit is ${LIMITS.maxKindFilters}`);
  }
  if (query.limit > LIMITS.maxSearchLimit) {
    throw new InvalidArgumentError("limit", `is ${query.limit}; the limit is 1 to ${LIMITS.maxSearchLimit} (0 means ${LIMITS.defaultSearchLimit})`);
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
      query.vector = requireVector(Float32Array.from(request.query.value.values), dimensions, "vector.values");
      break;
    default:
      throw new InvalidArgumentError("query", "is required: set text or vector");
  }
  return query;
}
