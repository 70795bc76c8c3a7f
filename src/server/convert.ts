import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { InvalidArgumentError } from "../core/errors.js";
import type { UpsertInput, UpsertOutcome } from "../core/ingest.js";
import { LIMITS } from "../core/limits.js";
import type { EmbeddingRow, EmbeddingRowInput, EmbeddingStatus } from "../core/types.js";
import { optionalName, requireText, requireUuid, requireVector } from "../core/validate.js";
import { requestVector } from "./wire/request-vector.js";
import {
  type Embedding,
  type EmbeddingInput,
  EmbeddingSchema,
  EmbeddingStatus as ProtoStatus,
  UpsertOutcome as ProtoOutcome,
} from "../../gen/dq/embeddings/v1/embedding_pb.js";
import type { QueryVector } from "../../gen/dq/embeddings/v1/retrieval_service_pb.js";

/** Request -> domain translation and its reverse. Validation errors name the request field. */

const STATUS_TO_DOMAIN: Record<ProtoStatus, EmbeddingStatus | undefined> = {
  [ProtoStatus.UNSPECIFIED]: undefined,
  [ProtoStatus.PENDING]: "pending",
  [ProtoStatus.ACCEPTED]: "accepted",
  [ProtoStatus.REJECTED]: "rejected",
};

const STATUS_TO_PROTO: Record<EmbeddingStatus, ProtoStatus> = {
  pending: ProtoStatus.PENDING,
  accepted: ProtoStatus.ACCEPTED,
  rejected: ProtoStatus.REJECTED,
};

const OUTCOME_TO_PROTO: Record<UpsertOutcome, ProtoOutcome> = {
  created: ProtoOutcome.CREATED,
  updated: ProtoOutcome.UPDATED,
  unchanged: ProtoOutcome.UNCHANGED,
};

export function statusFromProto(status: ProtoStatus, field: string): EmbeddingStatus | undefined {
  if (!(status in STATUS_TO_DOMAIN)) {
    throw new InvalidArgumentError(field, `unknown status ${status}`);
  }
  return STATUS_TO_DOMAIN[status];
}

export function statusToProto(status: EmbeddingStatus): ProtoStatus {
  return STATUS_TO_PROTO[status];
}

export function outcomeToProto(outcome: UpsertOutcome): ProtoOutcome {
  return OUTCOME_TO_PROTO[outcome];
}

/** Validates one EmbeddingInput; `field` is its path in the request, e.g. `embeddings[3]`. */
export function embeddingInputFromProto(
  input: EmbeddingInput | undefined,
  field: string,
  dimensions: number,
): UpsertInput {
  if (input === undefined) {
    throw new InvalidArgumentError(field, "is required");
  }
  const metadata = input.metadata ?? {};
  const metadataBytes = Buffer.byteLength(JSON.stringify(metadata), "utf8");
  if (metadataBytes > LIMITS.maxMetadataBytes) {
    throw new InvalidArgumentError(
      `${field}.metadata`,
      `is ${metadataBytes} bytes as JSON; the limit is ${LIMITS.maxMetadataBytes}`,
    );
  }
  const result: UpsertInput = {
    id: requireUuid(input.id, `${field}.id`),
    catalogId: requireUuid(input.catalogId, `${field}.catalog_id`),
    kind: requireText(input.kind, `${field}.kind`, LIMITS.maxKindBytes),
    content: requireText(input.content, `${field}.content`, LIMITS.maxContentBytes),
    metadata,
    schemaName: optionalName(input.schemaName, `${field}.schema_name`),
    tableName: optionalName(input.tableName, `${field}.table_name`),
    status: statusFromProto(input.status, `${field}.status`),
  };
  // Through the shadow router (wire/router.ts) the floats stay in the request's bytes.
  const vector = requestVector(input, 8, input.vector, `${field}.vector`);
  if (vector !== undefined) {
    result.vector = requireVector(vector, dimensions, `${field}.vector`);
  }
  return result;
}

/** A search's precomputed query vector, read from the request bytes when it came through the shadow router. */
export function queryVectorFromProto(query: QueryVector, field: string, dimensions: number): Float32Array {
  return requireVector(requestVector(query, 1, query.values, field) ?? new Float32Array(0), dimensions, field);
}

export function embeddingToProto(row: EmbeddingRow | EmbeddingRowInput, vector?: Float32Array): Embedding {
  return create(EmbeddingSchema, {
    id: row.id,
    content: row.content,
    kind: row.kind,
    catalogId: row.catalogId,
    metadata: row.metadata as JsonObject,
    qdrantPointId: row.qdrantPointId ?? "",
    schemaName: row.schemaName ?? "",
    tableName: row.tableName ?? "",
    status: statusToProto(row.status),
    contentHash: row.contentHash,
    model: row.model,
    createTime: "createdAt" in row ? timestampFromMs(row.createdAt) : undefined,
    updateTime: "updatedAt" in row ? timestampFromMs(row.updatedAt) : undefined,
    vector: vector === undefined ? [] : Array.from(vector),
  });
}
