import { endianness } from "node:os";
import { clone, create, createFileRegistry, type DescFile, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { file_qdrant } from "@qdrant/js-client-grpc";
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

/** `repeated float vector = 2` of SearchPoints and SearchPointGroups. */
export const SEARCH_VECTOR_FIELD = 2;

const FLOAT_FIELD = 1;
const WIRE_FIXED32 = 5;
const WIRE_LEN = 2;
const LITTLE_ENDIAN = endianness() === "LE";

let shadows: ShadowSchemas | undefined; // immutable descriptors, built once like generated ones

export function shadowSchemas(): ShadowSchemas {
  if (shadows !== undefined) return shadows;
  const files = new Map<string, DescFile>();
  const collect = (f: DescFile): void => {
    if (files.has(f.proto.name)) return;
    files.set(f.proto.name, f);
    f.dependencies.forEach(collect);
  };
  collect(file_qdrant);
  const points = files.get("points.proto");
  if (points === undefined) throw new Error("@qdrant/js-client-grpc no longer ships points.proto");
  const proto = clone(FileDescriptorProtoSchema, points.proto);
  for (const message of proto.messageType) {
    if (message.name === "Vector" || message.name === "DenseVector") {
      message.field = message.field.filter((f) => f.number !== FLOAT_FIELD);
    }
    if (message.name === "SearchPoints" || message.name === "SearchPointGroups") {
      message.field = message.field.filter((f) => f.number !== SEARCH_VECTOR_FIELD);
    }
  }
  const registry = createFileRegistry(proto, (name) => files.get(name));
  const get = (typeName: string): DescMessage => {
    const m = registry.getMessage(typeName);
    if (m === undefined) throw new Error(`shadow schema lacks ${typeName}`);
    return m;
  };
  shadows = {
    upsertPoints: get("qdrant.UpsertPoints"),
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

interface UnknownField {
  no: number;
  wireType: number;
  data: Uint8Array;
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
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (const field of unknown ?? []) {
    if (field.no !== fieldNo) continue;
    let chunk: Uint8Array;
    if (field.wireType === WIRE_LEN) {
      const { value: length, size } = readVarint(field.data);
      chunk = field.data.subarray(size, size + length);
      if (chunk.length !== length || length % 4 !== 0)
        throw invalidArgument("Malformed vector: packed float data is not a whole number of floats");
    } else if (field.wireType === WIRE_FIXED32) {
      chunk = field.data;
    } else {
      throw invalidArgument(`Malformed vector: float data with wire type ${field.wireType}`);
    }
    chunks.push(chunk);
    bytes += chunk.length;
  }
  if (chunks.length === 0) return Float32Array.from(decoded ?? []);
  const whole = chunks.length === 1 ? chunks[0] : concat(chunks, bytes);
  if (!LITTLE_ENDIAN) {
    const view = new DataView(whole.buffer, whole.byteOffset, whole.byteLength);
    return Float32Array.from({ length: whole.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
  }
  if (whole.byteOffset % 4 === 0) return new Float32Array(whole.buffer, whole.byteOffset, whole.length / 4);
  return new Float32Array(new Uint8Array(whole).buffer); // a copy: Buffer#slice would be a view
}

/**
 * A shadow `DenseVector` message holding `vector` as raw bytes (`create()` drops `$unknown` given in
 * its init object, so it is set afterwards). Nested into a `create()` of a shadow request it is kept.
 */
export function shadowDenseVector(vector: Float32Array): object {
  const message = create(shadowSchemas().denseVector) as { $unknown?: UnknownField[] };
  message.$unknown = [denseField(vector)];
  return message;
}

/** The unknown field a shadow message carries for a dense vector: one packed chunk. */
export function denseField(vector: Float32Array): UnknownField {
  const body = LITTLE_ENDIAN
    ? new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength)
    : (() => {
        const out = new Uint8Array(vector.length * 4);
        const view = new DataView(out.buffer);
        vector.forEach((x, i) => view.setFloat32(i * 4, x, true));
        return out;
      })();
  const prefix = writeVarint(body.length);
  const data = new Uint8Array(prefix.length + body.length);
  data.set(prefix, 0);
  data.set(body, prefix.length);
  return { no: FLOAT_FIELD, wireType: WIRE_LEN, data };
}

function readVarint(bytes: Uint8Array): { value: number; size: number } {
  let value = 0;
  let shift = 0;
  for (let i = 0; i < 5 && i < bytes.length; i++) {
    value += (bytes[i] & 0x7f) * 2 ** shift;
    shift += 7;
    if ((bytes[i] & 0x80) === 0) return { value, size: i + 1 };
  }
  throw invalidArgument("Malformed vector: bad length prefix");
}

function writeVarint(n: number): Uint8Array {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Uint8Array.from(out);
}

function concat(chunks: Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
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
    carrier.$unknown = [...(carrier.$unknown ?? []), denseField(Float32Array.from(carrier.data))];
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
