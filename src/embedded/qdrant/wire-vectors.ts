import { create, type DescMessage } from "@bufbuild/protobuf";
import { file_qdrant } from "@qdrant/js-client-grpc";
import {
  floatsFromUnknown,
  MalformedFloatsError,
  packedFloatsField,
  type UnknownField,
} from "../../wire/float-field.js";
import { fileClosure, shadowRegistry } from "../../wire/shadow-registry.js";
import { invalidArgument } from "./errors.js";

/**
 * Dense vectors read straight from their wire bytes. Shadow copies of Qdrant's `UpsertPoints` and
 * `UpdateBatchPoints` (same package, names and field numbers) leave field 1 of `Vector` and
 * `DenseVector` (`repeated float data`) undeclared, so protobuf-es keeps it as unknown fields: the
 * raw bytes with their wire type. `denseData` then accepts every legal encoding (packed in one or
 * several chunks, or unpacked fixed32 values) and views the little-endian floats as a Float32Array
 * without a round trip through JS numbers (DESIGN.md: ~2 us instead of ~40 us per 3072-d vector).
 * Re-encoding a shadow message writes the unknown fields back byte for byte.
 */
export interface ShadowSchemas {
  readonly upsertPoints: DescMessage;
  /**
   * UpsertPoints with `points` (3) undeclared: each point stays as its raw bytes (an unknown field),
   * so the request can be journalled as the client sent it (upsert-request.ts) and its points decoded
   * with `pointStruct` one by one.
   */
  readonly upsertPointsRaw: DescMessage;
  readonly pointStruct: DescMessage;
  readonly updateBatchPoints: DescMessage;
  readonly denseVector: DescMessage;
  /** Query vectors: `VectorInput.dense` is a DenseVector; Search's own `vector` is field 2. */
  readonly queryPoints: DescMessage;
  readonly queryBatchPoints: DescMessage;
  readonly queryPointGroups: DescMessage;
  readonly searchPoints: DescMessage;
  readonly searchBatchPoints: DescMessage;
  readonly searchPointGroups: DescMessage;
}

/** `repeated PointStruct points = 3` of UpsertPoints. */
export const UPSERT_POINTS_FIELD = 3;

/** `repeated float vector = 2` of SearchPoints and SearchPointGroups. */
export const SEARCH_VECTOR_FIELD = 2;

const FLOAT_FIELD = 1;

let shadows: ShadowSchemas | undefined; // immutable descriptors, built once like generated ones

export function shadowSchemas(): ShadowSchemas {
  if (shadows !== undefined) return shadows;
  const points = fileClosure(file_qdrant).get("points.proto");
  if (points === undefined) throw new Error("@qdrant/js-client-grpc no longer ships points.proto");
  const registry = shadowRegistry(
    points,
    (file) => file === points,
    (proto) => {
      for (const message of proto.messageType) {
        if (message.name === "Vector" || message.name === "DenseVector") {
          message.field = message.field.filter((f) => f.number !== FLOAT_FIELD);
        }
        if (message.name === "SearchPoints" || message.name === "SearchPointGroups") {
          message.field = message.field.filter((f) => f.number !== SEARCH_VECTOR_FIELD);
        }
      }
    },
  );
  const get = (typeName: string, from = registry): DescMessage => {
    const m = from.getMessage(typeName);
    if (m === undefined) throw new Error(`shadow schema lacks ${typeName}`);
    return m;
  };
  const rawRegistry = shadowRegistry(
    points,
    (file) => file === points,
    (proto) => {
      const upsert = proto.messageType.find((message) => message.name === "UpsertPoints");
      if (upsert === undefined || !upsert.field.some((f) => f.number === UPSERT_POINTS_FIELD && f.name === "points")) {
        throw new Error("@qdrant/js-client-grpc: qdrant.UpsertPoints no longer has `points = 3`");
      }
      upsert.field = upsert.field.filter((f) => f.number !== UPSERT_POINTS_FIELD);
    },
  );
  shadows = {
    upsertPoints: get("qdrant.UpsertPoints"),
    upsertPointsRaw: get("qdrant.UpsertPoints", rawRegistry),
    pointStruct: get("qdrant.PointStruct"),
    updateBatchPoints: get("qdrant.UpdateBatchPoints"),
    denseVector: get("qdrant.DenseVector"),
    queryPoints: get("qdrant.QueryPoints"),
    queryBatchPoints: get("qdrant.QueryBatchPoints"),
    queryPointGroups: get("qdrant.QueryPointGroups"),
    searchPoints: get("qdrant.SearchPoints"),
    searchBatchPoints: get("qdrant.SearchBatchPoints"),
    searchPointGroups: get("qdrant.SearchPointGroups"),
  };
  return shadows;
}

/** A message holding `repeated float data = 1`, decoded normally or through a shadow schema. */
export interface FloatCarrier {
  data?: number[];
  $unknown?: UnknownField[];
}

/** `data` (field 1) of a Vector / DenseVector, from wire bytes when decoded through a shadow. */
export function denseData(message: FloatCarrier): Float32Array {
  return floatsOf(message.$unknown, FLOAT_FIELD, message.data);
}

/** The float field `fieldNo` kept as unknown fields, else `decoded` (a normally decoded message). */
export function floatsOf(
  unknown: readonly UnknownField[] | undefined,
  fieldNo: number,
  decoded: readonly number[] | undefined,
): Float32Array {
  try {
    return floatsFromUnknown(unknown, fieldNo) ?? Float32Array.from(decoded ?? []);
  } catch (error) {
    if (error instanceof MalformedFloatsError) throw invalidArgument(`Malformed vector: float data ${error.message}`);
    throw error;
  }
}

/**
 * A shadow `DenseVector` message holding `vector` as raw bytes (`create()` drops `$unknown` given in
 * its init object, so it is set afterwards). Nested into a `create()` of a shadow request it is kept.
 */
export function shadowDenseVector(vector: Float32Array): object {
  const message = create(shadowSchemas().denseVector) as { $unknown?: UnknownField[] };
  message.$unknown = [packedFloatsField(FLOAT_FIELD, vector)];
  return message;
}

/**
 * Points built in-process with the real schema carry floats in `data`; the shadow schema would not
 * write them. Moves them into the unknown field the shadow schema writes (same bytes on the wire).
 */
export function floatsToWireForm(
  points: readonly { vectors?: { vectorsOptions: { case?: string; value?: unknown } } }[],
): void {
  const fix = (carrier: FloatCarrier | undefined): void => {
    if (carrier === undefined || carrier.data === undefined || carrier.data.length === 0) return;
    carrier.$unknown = [...(carrier.$unknown ?? []), packedFloatsField(FLOAT_FIELD, Float32Array.from(carrier.data))];
    carrier.data = [];
  };
  const fixVector = (vector: FloatCarrier & { vector?: { case?: string; value?: unknown } }): void => {
    fix(vector);
    if (vector.vector?.case === "dense") fix(vector.vector.value as FloatCarrier);
  };
  for (const point of points) {
    const options = point.vectors?.vectorsOptions;
    if (options?.case === "vector") fixVector(options.value as FloatCarrier);
    else if (options?.case === "vectors") {
      for (const v of Object.values((options.value as { vectors: Record<string, FloatCarrier> }).vectors)) fixVector(v);
    }
  }
}
