/**
 * A small shape checker for JSON answers, and the shapes of the Qdrant 1.19 REST responses the
 * embedded server serves, written down from the component schemas of qdrant/qdrant's
 * docs/redoc/master/openapi.json (at v1.19.0): which keys are required, which are allowed, their JSON
 * types and enum values. A key the schema does not list, a missing required key, or a wrong type is
 * a difference.
 */
export type Shape =
  | "string"
  | "integer"
  | "number"
  | "boolean"
  | "any"
  | { enum: readonly (string | number)[] }
  | { nullable: Shape }
  | { array: Shape }
  | { map: Shape }
  | { anyOf: readonly Shape[] }
  | ObjectShape;

export interface ObjectShape {
  required: Record<string, Shape>;
  optional?: Record<string, Shape>;
}

/** Every difference between `value` and `shape`, as "path: problem" lines; empty when it conforms. */
export function shapeDifferences(value: unknown, shape: Shape, path = "$"): string[] {
  if (shape === "any") return [];
  if (typeof shape === "string") {
    const ok =
      shape === "integer"
        ? Number.isInteger(value)
        : shape === "number"
          ? typeof value === "number"
          : typeof value === shape;
    return ok ? [] : [`${path}: expected ${shape}, got ${JSON.stringify(value)}`];
  }
  if ("enum" in shape)
    return shape.enum.includes(value as string)
      ? []
      : [`${path}: ${JSON.stringify(value)} is not one of ${shape.enum.join(", ")}`];
  if ("nullable" in shape) return value === null ? [] : shapeDifferences(value, shape.nullable, path);
  if ("anyOf" in shape) {
    const attempts = shape.anyOf.map((option) => shapeDifferences(value, option, path));
    return attempts.some((differences) => differences.length === 0)
      ? []
      : [`${path}: matches none of ${shape.anyOf.length} alternatives (${attempts.map((a) => a[0]).join(" | ")})`];
  }
  if ("array" in shape) {
    if (!Array.isArray(value)) return [`${path}: expected an array`];
    return value.flatMap((item, index) => shapeDifferences(item, shape.array, `${path}[${index}]`));
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return [`${path}: expected an object, got ${JSON.stringify(value)}`];
  const entries = Object.entries(value as Record<string, unknown>);
  if ("map" in shape) return entries.flatMap(([key, item]) => shapeDifferences(item, shape.map, `${path}.${key}`));
  const differences: string[] = [];
  for (const key of Object.keys(shape.required)) {
    if (!(key in value)) differences.push(`${path}: required key "${key}" is missing`);
  }
  for (const [key, item] of entries) {
    const expected = shape.required[key] ?? shape.optional?.[key];
    if (expected === undefined) differences.push(`${path}: key "${key}" is not in the schema`);
    else differences.push(...shapeDifferences(item, expected, `${path}.${key}`));
  }
  return differences;
}

const uint: Shape = "integer";
const nullableUint: Shape = { nullable: "integer" };

export const VersionInfo: ObjectShape = {
  required: { title: "string", version: "string" },
  optional: { commit: { nullable: "string" } },
};

/** The envelope of every JSON answer: result, status "ok", time (seconds), optional usage. */
export const okResponse = (result: Shape): ObjectShape => ({
  required: { result, status: { enum: ["ok"] }, time: "number" },
  optional: { usage: { nullable: "any" } },
});

export const ErrorResponse: ObjectShape = {
  required: { status: { required: { error: "string" } }, time: "number" },
  optional: { result: { nullable: "any" } },
};

export const CollectionsResponse: ObjectShape = {
  required: { collections: { array: { required: { name: "string" } } } },
};
export const CollectionExistence: ObjectShape = { required: { exists: "boolean" } };
export const CollectionsAliasesResponse: ObjectShape = {
  required: { aliases: { array: { required: { alias_name: "string", collection_name: "string" } } } },
};

const Distance: Shape = { enum: ["Cosine", "Euclid", "Dot", "Manhattan"] };
const HnswConfigDiff: ObjectShape = {
  required: {},
  optional: {
    m: nullableUint,
    ef_construct: nullableUint,
    full_scan_threshold: nullableUint,
    max_indexing_threads: nullableUint,
    on_disk: { nullable: "boolean" },
    payload_m: nullableUint,
    inline_storage: { nullable: "boolean" },
  },
};
const VectorParams: ObjectShape = {
  required: { size: uint, distance: Distance },
  optional: {
    hnsw_config: { nullable: HnswConfigDiff },
    quantization_config: { nullable: "any" },
    on_disk: { nullable: "boolean" },
    memory: { nullable: "any" },
    datatype: { nullable: { enum: ["float32", "uint8", "float16"] } },
    multivector_config: { nullable: "any" },
  },
};
const SparseVectorParams: ObjectShape = {
  required: {},
  optional: { index: { nullable: "any" }, modifier: { nullable: { enum: ["none", "idf"] } } },
};
const CollectionParams: ObjectShape = {
  required: {},
  optional: {
    vectors: { anyOf: [VectorParams, { map: VectorParams }] },
    shard_number: uint,
    sharding_method: { nullable: { enum: ["auto", "custom"] } },
    replication_factor: uint,
    write_consistency_factor: uint,
    read_fan_out_factor: nullableUint,
    read_fan_out_delay_ms: nullableUint,
    on_disk_payload: "boolean",
    payload: { nullable: "any" },
    sparse_vectors: { nullable: { map: SparseVectorParams } },
  },
};
const HnswConfig: ObjectShape = {
  required: { m: uint, ef_construct: uint, full_scan_threshold: uint },
  optional: {
    max_indexing_threads: uint,
    on_disk: { nullable: "boolean" },
    memory: { nullable: "any" },
    payload_m: nullableUint,
    inline_storage: { nullable: "boolean" },
  },
};
const OptimizersConfig: ObjectShape = {
  required: { default_segment_number: uint, flush_interval_sec: uint },
  optional: {
    deleted_threshold: "number",
    vacuum_min_vector_number: uint,
    max_segment_size: nullableUint,
    memmap_threshold: nullableUint,
    indexing_threshold: nullableUint,
    max_optimization_threads: nullableUint,
    prevent_unoptimized: { nullable: "boolean" },
  },
};
const WalConfig: ObjectShape = {
  required: { wal_capacity_mb: uint, wal_segments_ahead: uint },
  optional: { wal_retain_closed: uint },
};
const CollectionConfig: ObjectShape = {
  required: { params: CollectionParams, hnsw_config: HnswConfig, optimizer_config: OptimizersConfig },
  optional: {
    wal_config: { nullable: WalConfig },
    quantization_config: { nullable: "any" },
    strict_mode_config: { nullable: { required: {}, optional: { enabled: { nullable: "boolean" } } } },
    metadata: { nullable: { map: "any" } },
  },
};
const PayloadSchemaType: Shape = { enum: ["keyword", "integer", "float", "geo", "text", "bool", "datetime", "uuid"] };
const KeywordIndexParams: ObjectShape = {
  required: { type: { enum: ["keyword"] } },
  optional: {
    is_tenant: { nullable: "boolean" },
    on_disk: { nullable: "boolean" },
    memory: { nullable: "any" },
    enable_hnsw: { nullable: "boolean" },
    prefix: { nullable: "boolean" },
  },
};
const PayloadIndexInfo: ObjectShape = {
  required: { data_type: PayloadSchemaType, points: uint },
  optional: { params: { nullable: { anyOf: [KeywordIndexParams, { required: { type: "string" }, optional: {} }] } } },
};
export const CollectionInfo: ObjectShape = {
  required: {
    status: { enum: ["green", "yellow", "grey", "red"] },
    optimizer_status: { anyOf: [{ enum: ["ok"] }, { required: { error: "string" } }] },
    segments_count: uint,
    config: CollectionConfig,
    payload_schema: { map: PayloadIndexInfo },
  },
  optional: {
    warnings: { array: { required: { message: "string" } } },
    indexed_vectors_count: nullableUint,
    points_count: nullableUint,
    update_queue: { nullable: { required: { length: uint }, optional: { deferred_points: nullableUint } } },
  },
};
