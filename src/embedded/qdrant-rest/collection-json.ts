import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CollectionInfoSchema } from "@qdrant/js-client-grpc";

/**
 * Qdrant's gRPC `CollectionInfo` (as the embedded server builds it for Collections.Get) in the JSON
 * shape of its REST API, `GET /collections/{name}` (schema `CollectionInfo` in Qdrant's
 * docs/redoc/master/openapi.json): snake_case keys, lowercase enum names, numbers for counters.
 */
type GrpcCollectionInfo = MessageInitShape<typeof CollectionInfoSchema>;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

// Enum numbers of lib/api/src/grpc/proto/collections.proto, named as the REST API spells them.
const COLLECTION_STATUS = ["unknown", "green", "yellow", "red", "grey"];
const DISTANCE = ["UnknownDistance", "Cosine", "Euclid", "Dot", "Manhattan"];
const MODIFIER = ["none", "idf"];
const PAYLOAD_SCHEMA_TYPE = ["unknown", "keyword", "integer", "float", "geo", "text", "bool", "datetime", "uuid"];
const SHARDING_METHOD = ["auto", "custom"];
const DATATYPE = ["default", "float32", "uint8", "float16"];

export function collectionInfoJson(info: GrpcCollectionInfo): { [key: string]: Json } {
  const config = info.config ?? {};
  const params = config.params ?? {};
  const out: { [key: string]: Json } = {
    status: COLLECTION_STATUS[Number(info.status ?? 1)] ?? "green",
    optimizer_status: info.optimizerStatus?.ok === false ? { error: info.optimizerStatus.error ?? "" } : "ok",
    indexed_vectors_count: toNumber(info.indexedVectorsCount ?? 0n),
    points_count: toNumber(info.pointsCount ?? 0n),
    segments_count: toNumber(info.segmentsCount ?? 1n),
    config: {
      params: collectionParams(params),
      hnsw_config: plain(config.hnswConfig) as Json,
      optimizer_config: {
        max_segment_size: null,
        memmap_threshold: null,
        max_optimization_threads: null,
        ...(plain(config.optimizerConfig) as object),
      },
      wal_config: { wal_retain_closed: 1, ...(plain(config.walConfig) as object) },
      quantization_config: quantization(config.quantizationConfig),
      strict_mode_config: (plain(config.strictModeConfig) as Json) ?? { enabled: false },
      ...(config.metadata === undefined || Object.keys(config.metadata).length === 0
        ? {}
        : { metadata: valueMap(config.metadata) }),
    },
    payload_schema: payloadSchema(info.payloadSchema ?? {}),
    update_queue: { length: toNumber(info.updateQueue?.length ?? 0n) },
  };
  return out;
}

function collectionParams(params: NonNullable<NonNullable<GrpcCollectionInfo["config"]>["params"]>): {
  [key: string]: Json;
} {
  const out: { [key: string]: Json } = {};
  const vectors = params.vectorsConfig?.config;
  if (vectors?.case === "params") {
    out.vectors = vectorParams(vectors.value);
  } else if (vectors?.case === "paramsMap") {
    out.vectors = Object.fromEntries(
      Object.entries(vectors.value.map ?? {}).map(([name, value]) => [name, vectorParams(value)]),
    );
  } else {
    out.vectors = {};
  }
  out.shard_number = params.shardNumber ?? 1;
  if (params.shardingMethod !== undefined)
    out.sharding_method = SHARDING_METHOD[Number(params.shardingMethod)] ?? "auto";
  out.replication_factor = params.replicationFactor ?? 1;
  out.write_consistency_factor = params.writeConsistencyFactor ?? 1;
  out.on_disk_payload = params.onDiskPayload ?? true;
  const sparse = params.sparseVectorsConfig?.map;
  if (sparse !== undefined && Object.keys(sparse).length > 0) {
    out.sparse_vectors = Object.fromEntries(
      Object.entries(sparse).map(([name, value]) => {
        const entry: { [key: string]: Json } = {};
        if (value.index !== undefined) entry.index = plain(value.index) as Json;
        if (value.modifier !== undefined) entry.modifier = MODIFIER[Number(value.modifier)] ?? "none";
        return [name, entry];
      }),
    );
  }
  return out;
}

type VectorParamsInit = Extract<
  NonNullable<NonNullable<NonNullable<GrpcCollectionInfo["config"]>["params"]>["vectorsConfig"]>["config"],
  { case: "params" }
>["value"];

function vectorParams(value: VectorParamsInit): { [key: string]: Json } {
  const out: { [key: string]: Json } = {
    size: toNumber(value.size ?? 0n),
    distance: DISTANCE[Number(value.distance ?? 0)] ?? "Cosine",
  };
  if (value.hnswConfig !== undefined) out.hnsw_config = plain(value.hnswConfig) as Json;
  if (value.onDisk !== undefined) out.on_disk = value.onDisk;
  if (value.datatype !== undefined) out.datatype = DATATYPE[Number(value.datatype)] ?? "float32";
  if (value.quantizationConfig !== undefined) out.quantization_config = quantization(value.quantizationConfig);
  return out;
}

function payloadSchema(schema: NonNullable<GrpcCollectionInfo["payloadSchema"]>): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const [field, index] of Object.entries(schema)) {
    const entry: { [key: string]: Json } = { data_type: PAYLOAD_SCHEMA_TYPE[Number(index.dataType ?? 0)] ?? "keyword" };
    const params = (index.params as { indexParams?: { case?: string; value?: object } } | undefined)?.indexParams;
    if (params?.case !== undefined) {
      // keywordIndexParams -> { type: "keyword", ...its set fields }
      entry.params = {
        type: params.case.replace(/IndexParams$/, "").toLowerCase(),
        ...(plain(params.value) as object),
      };
    }
    entry.points = toNumber(index.points ?? 0n);
    out[field] = entry;
  }
  return out;
}

function quantization(value: unknown): Json {
  const oneof = (value as { quantization?: { case?: string; value?: object } } | undefined)?.quantization;
  if (oneof?.case === undefined) return null;
  return { [oneof.case]: plain(oneof.value) as Json };
}

/** A grpc `Value` map (json_with_int.proto) as plain JSON. */
function valueMap(map: Record<string, unknown>): { [key: string]: Json } {
  return Object.fromEntries(Object.entries(map).map(([key, value]) => [key, grpcValue(value)]));
}

function grpcValue(value: unknown): Json {
  const kind = (value as { kind?: { case?: string; value?: unknown } } | undefined)?.kind;
  switch (kind?.case) {
    case "stringValue":
    case "boolValue":
    case "doubleValue":
      return kind.value as Json;
    case "integerValue":
      return toNumber(kind.value as bigint);
    case "structValue":
      return valueMap((kind.value as { fields?: Record<string, unknown> }).fields ?? {});
    case "listValue":
      return ((kind.value as { values?: unknown[] }).values ?? []).map(grpcValue);
    default:
      return null;
  }
}

/** A plain protobuf message: set fields only, camelCase -> snake_case, bigint -> number. */
function plain(message: unknown): Json | undefined {
  if (message === undefined || message === null) return undefined;
  if (typeof message === "bigint") return toNumber(message);
  if (Array.isArray(message)) return message.map((item) => plain(item) ?? null);
  if (typeof message !== "object") return message as Json;
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(message)) {
    if (key === "$typeName" || value === undefined) continue;
    out[key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)] = plain(value) ?? null;
  }
  return out;
}

function toNumber(value: bigint | number): number {
  return typeof value === "bigint" ? Number(value) : value;
}
