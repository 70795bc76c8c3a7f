import type { DescMessage } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import {
  DenseVectorSchema,
  NamedVectorsSchema,
  PointIdSchema,
  PointStructSchema,
  SparseVectorSchema,
  UpsertPointsSchema,
  ValueSchema,
  VectorSchema,
  VectorsSchema,
} from "@qdrant/js-client-grpc";
import { drainSteps, SLICE } from "../../core/slices.js";
import { float32Bytes } from "../../wire/float32.js";
import { lengthDelimitedSize, SizedWriter, stringSize, tagSize, varintSize } from "../../wire/sized-writer.js";
import type { SparseVector, VectorPoint } from "../vector-store.js";

/**
 * Qdrant's `UpsertPoints` written straight from our points, as the body of a gRPC request: the 5-byte
 * envelope header, then the message, in one buffer of the exact size. Each dense vector's float32
 * bytes are copied once, from the caller's Float32Array (often a view over our own request's bytes)
 * into that buffer; nothing becomes a JS number[] and no protobuf-es message is built.
 *
 * protobuf-es would cost far more here: reflective `create` + `toBinary` of each point's id and
 * payload map, nested messages written by fork/join (a 12 KiB vector moved once per enclosing message
 * whose length prefix grows), a buffer that doubles as it grows, a copy in `finish()`, and connect's
 * envelope copy on top. Every size is computed first (`planPoint`), then everything is written once
 * with `SizedWriter` (src/wire/sized-writer.ts says what that saves, measured).
 *
 * The message bytes equal `toBinary(UpsertPointsSchema, real message)` of what `toPointStruct` builds
 * (test/unit/stores/qdrant-wire, test/integration/splice.test.ts): same fields, same order.
 */
export interface UpsertRequest {
  collectionName: string;
  wait: boolean;
  points: readonly VectorPoint[];
}

/** The dense and sparse vectors' names in the collection (qdrant-vector-store.ts creates them). */
export interface VectorNames {
  dense: string;
  sparse: string;
}

/** Bytes before the message in a gRPC request body: flags (0: not compressed), then the length. */
export const ENVELOPE_HEADER_BYTES = 5;

const F = fieldNumbers();
const utf8 = new TextEncoder();

/**
 * The gRPC request body: envelope header, then UpsertPoints. Written into `reuse` when it is large
 * enough (a buffer whose previous request is finished), else into a new buffer `headroom` times the
 * size needed (1: exact), which the caller may keep for later requests.
 */
export function encodeUpsertRequest(
  request: UpsertRequest,
  names: VectorNames,
  reuse?: Uint8Array,
  headroom = 1,
): Uint8Array {
  return drainSteps(encodeUpsertSteps(request, names, reuse, headroom));
}

/**
 * `encodeUpsertRequest` as steps: it yields after every SLICE points planned and written, so a caller
 * on the event loop (`runSteps`) lets other work run in between (a 1,000-point batch is ~12 MiB).
 */
export function* encodeUpsertSteps(
  request: UpsertRequest,
  names: VectorNames,
  reuse?: Uint8Array,
  headroom = 1,
): Generator<void, Uint8Array> {
  const collectionSize = stringSize(request.collectionName);
  const denseKey = utf8.encode(names.dense);
  const sparseKey = utf8.encode(names.sparse);
  const plans: PointPlan[] = [];
  let size = lengthDelimitedSize(F.upsert.collectionName, collectionSize) + tagSize(F.upsert.wait, WireType.Varint) + 1;
  for (const [i, point] of request.points.entries()) {
    if (i > 0 && i % SLICE === 0) yield;
    const plan = planPoint(point, denseKey, sparseKey);
    plans.push(plan);
    size += lengthDelimitedSize(F.upsert.points, plan.size);
  }
  const total = ENVELOPE_HEADER_BYTES + size;
  const out = new SizedWriter(
    size,
    ENVELOPE_HEADER_BYTES,
    reuse !== undefined && reuse.length >= total
      ? reuse
      : headroom > 1
        ? new Uint8Array(Math.ceil(total * headroom))
        : undefined,
  );
  out.bytes[0] = 0; // flags: not compressed
  new DataView(out.bytes.buffer, out.bytes.byteOffset).setUint32(1, size); // the length, big-endian
  out
    .lengthDelimited(F.upsert.collectionName, collectionSize)
    .string(request.collectionName, collectionSize)
    .tag(F.upsert.wait, WireType.Varint)
    .varint(request.wait ? 1 : 0);
  for (const [i, plan] of plans.entries()) {
    if (i > 0 && i % SLICE === 0) yield;
    out.lengthDelimited(F.upsert.points, plan.size);
    writePoint(out, plan);
  }
  return out.finish();
}

/** The UpsertPoints message alone (what `toBinary` of the real message gives), for tests and benchmarks. */
export function encodeUpsertPoints(request: UpsertRequest, names: VectorNames): Uint8Array {
  return encodeUpsertRequest(request, names).subarray(ENVELOPE_HEADER_BYTES);
}

/** The payload keys, in `toPointStruct`'s order, and their UTF-8 bytes. */
const PAYLOAD_KEYS = ["catalog_id", "kind", "schema", "table", "status", "content_hash", "model"] as const;
const PAYLOAD_KEY_BYTES = PAYLOAD_KEYS.map((key) => utf8.encode(key));

interface PointPlan {
  point: VectorPoint;
  /** The payload's values in PAYLOAD_KEYS order. */
  values: (string | null)[];
  idSize: number;
  pointIdSize: number;
  /** Per payload key: the value's string size (-1 for null), the Value message's size, the entry's size. */
  valueStringSizes: number[];
  valueSizes: number[];
  entrySizes: number[];
  denseKey: Uint8Array;
  dense: Uint8Array;
  denseDataSize: number;
  denseVectorSize: number;
  denseEntrySize: number;
  sparseKey: Uint8Array;
  sparse: SparseVector | undefined;
  sparseIndicesSize: number;
  sparseMessageSize: number;
  sparseVectorSize: number;
  sparseEntrySize: number;
  namedSize: number;
  vectorsSize: number;
  size: number;
}

function planPoint(point: VectorPoint, denseKey: Uint8Array, sparseKey: Uint8Array): PointPlan {
  const idSize = stringSize(point.id);
  const pointIdSize = lengthDelimitedSize(F.pointId.uuid, idSize);
  let size = lengthDelimitedSize(F.point.id, pointIdSize);

  const values = payloadValues(point);
  const valueStringSizes: number[] = [];
  const valueSizes: number[] = [];
  const entrySizes: number[] = [];
  for (let k = 0; k < PAYLOAD_KEYS.length; k++) {
    const value = values[k];
    const stringBytes = value === null ? -1 : stringSize(value);
    const valueSize =
      value === null
        ? tagSize(F.value.nullValue, WireType.Varint) + 1
        : lengthDelimitedSize(F.value.stringValue, stringBytes);
    const entrySize =
      lengthDelimitedSize(F.entry.key, PAYLOAD_KEY_BYTES[k].length) + lengthDelimitedSize(F.entry.value, valueSize);
    valueStringSizes.push(stringBytes);
    valueSizes.push(valueSize);
    entrySizes.push(entrySize);
    size += lengthDelimitedSize(F.point.payload, entrySize);
  }

  const dense = float32Bytes(point.vector);
  const denseDataSize = lengthDelimitedSize(F.dense.data, dense.length);
  const denseVectorSize = lengthDelimitedSize(F.vector.dense, denseDataSize);
  const denseEntrySize = entrySize(denseKey, denseVectorSize);
  let namedSize = lengthDelimitedSize(F.named.vectors, denseEntrySize);

  const sparse = point.sparse !== undefined && point.sparse.indices.length > 0 ? point.sparse : undefined;
  let sparseIndicesSize = 0;
  let sparseMessageSize = 0;
  let sparseVectorSize = 0;
  let sparseEntrySize = 0;
  if (sparse !== undefined) {
    for (let i = 0; i < sparse.indices.length; i++) sparseIndicesSize += varintSize(sparse.indices[i]);
    sparseMessageSize =
      lengthDelimitedSize(F.sparse.values, sparse.values.length * 4) +
      lengthDelimitedSize(F.sparse.indices, sparseIndicesSize);
    sparseVectorSize = lengthDelimitedSize(F.vector.sparse, sparseMessageSize);
    sparseEntrySize = entrySize(sparseKey, sparseVectorSize);
    namedSize += lengthDelimitedSize(F.named.vectors, sparseEntrySize);
  }
  const vectorsSize = lengthDelimitedSize(F.vectors.vectors, namedSize);
  size += lengthDelimitedSize(F.point.vectors, vectorsSize);
  return {
    point,
    values,
    idSize,
    pointIdSize,
    valueStringSizes,
    valueSizes,
    entrySizes,
    denseKey,
    dense,
    denseDataSize,
    denseVectorSize,
    denseEntrySize,
    sparseKey,
    sparse,
    sparseIndicesSize,
    sparseMessageSize,
    sparseVectorSize,
    sparseEntrySize,
    namedSize,
    vectorsSize,
    size,
  };
}

function payloadValues(point: VectorPoint): (string | null)[] {
  const p = point.payload;
  return [p.catalog_id, p.kind, p.schema, p.table, p.status, p.content_hash, p.model];
}

function entrySize(key: Uint8Array, valueSize: number): number {
  return lengthDelimitedSize(F.entry.key, key.length) + lengthDelimitedSize(F.entry.value, valueSize);
}

function writePoint(out: SizedWriter, plan: PointPlan): void {
  const start = out.position;
  const { point } = plan;
  out.lengthDelimited(F.point.id, plan.pointIdSize).lengthDelimited(F.pointId.uuid, plan.idSize);
  out.string(point.id, plan.idSize);
  // The payload map, in `toPointStruct`'s key order; a null filter is Value.null_value.
  for (let k = 0; k < PAYLOAD_KEYS.length; k++) {
    out
      .lengthDelimited(F.point.payload, plan.entrySizes[k])
      .lengthDelimited(F.entry.key, PAYLOAD_KEY_BYTES[k].length)
      .raw(PAYLOAD_KEY_BYTES[k])
      .lengthDelimited(F.entry.value, plan.valueSizes[k]);
    const value = plan.values[k];
    if (value === null) {
      out.tag(F.value.nullValue, WireType.Varint).varint(0);
    } else {
      out.lengthDelimited(F.value.stringValue, plan.valueStringSizes[k]).string(value, plan.valueStringSizes[k]);
    }
  }
  out
    .lengthDelimited(F.point.vectors, plan.vectorsSize)
    .lengthDelimited(F.vectors.vectors, plan.namedSize)
    .lengthDelimited(F.named.vectors, plan.denseEntrySize)
    .lengthDelimited(F.entry.key, plan.denseKey.length)
    .raw(plan.denseKey)
    .lengthDelimited(F.entry.value, plan.denseVectorSize)
    .lengthDelimited(F.vector.dense, plan.denseDataSize)
    .lengthDelimited(F.dense.data, plan.dense.length)
    .raw(plan.dense);
  const sparse = plan.sparse;
  if (sparse !== undefined) {
    out
      .lengthDelimited(F.named.vectors, plan.sparseEntrySize)
      .lengthDelimited(F.entry.key, plan.sparseKey.length)
      .raw(plan.sparseKey)
      .lengthDelimited(F.entry.value, plan.sparseVectorSize)
      .lengthDelimited(F.vector.sparse, plan.sparseMessageSize)
      .lengthDelimited(F.sparse.values, sparse.values.length * 4)
      .raw(float32Bytes(sparse.values))
      .lengthDelimited(F.sparse.indices, plan.sparseIndicesSize);
    for (let i = 0; i < sparse.indices.length; i++) out.varint(sparse.indices[i]);
  }
  if (out.position - start !== plan.size) {
    throw new Error(`encode-points wrote a ${out.position - start}-byte point planned as ${plan.size}`);
  }
}

/** Field numbers read from the client's own descriptors, so a change in points.proto fails at load. */
function fieldNumbers() {
  const no = (schema: DescMessage, name: string): number => {
    const field = schema.fields.find((f) => f.name === name);
    if (field === undefined) {
      throw new Error(`@qdrant/js-client-grpc: ${schema.typeName} has no field ${name}; update qdrant-wire`);
    }
    return field.number;
  };
  return {
    upsert: {
      collectionName: no(UpsertPointsSchema, "collection_name"),
      wait: no(UpsertPointsSchema, "wait"),
      points: no(UpsertPointsSchema, "points"),
    },
    point: {
      id: no(PointStructSchema, "id"),
      payload: no(PointStructSchema, "payload"),
      vectors: no(PointStructSchema, "vectors"),
    },
    pointId: { uuid: no(PointIdSchema, "uuid") },
    value: { nullValue: no(ValueSchema, "null_value"), stringValue: no(ValueSchema, "string_value") },
    vectors: { vectors: no(VectorsSchema, "vectors") },
    named: { vectors: no(NamedVectorsSchema, "vectors") },
    // Every protobuf map entry is `key = 1, value = 2`.
    entry: { key: 1, value: 2 },
    vector: { dense: no(VectorSchema, "dense"), sparse: no(VectorSchema, "sparse") },
    dense: { data: no(DenseVectorSchema, "data") },
    sparse: { values: no(SparseVectorSchema, "values"), indices: no(SparseVectorSchema, "indices") },
  };
}
