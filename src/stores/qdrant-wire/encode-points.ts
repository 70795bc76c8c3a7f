import { create, toBinary } from "@bufbuild/protobuf";
import { PointStructSchema, VectorSchema } from "@qdrant/js-client-grpc";

/**
 * Qdrant `PointStruct`s encoded in one exact-size buffer each, dense vectors copied once from their
 * float32 bytes. protobuf-es writes nested messages by fork/join, shifting every enclosing message
 * (PointStruct > Vectors > NamedVectors entry > Vector > DenseVector) when its length prefix needs a
 * second byte: a 12 KiB vector moved five or six times, in a buffer that doubles as it grows. Here
 * the small parts (id, payload, sparse vectors) still go through protobuf-es; only the dense vector's
 * enclosing tags and lengths are written by hand, with sizes computed first.
 *
 * The bytes equal `toBinary(PointStructSchema, real point)` (test/unit/stores/qdrant-wire).
 */

/** A PointStruct init as `toPointStruct(point, denseBytes)` builds it: dense `data` as bytes. */
export interface PointInit {
  vectors?: { vectorsOptions: { case: string; value: unknown } };
  [field: string]: unknown;
}

interface NamedVector {
  vector: { case: string | undefined; value?: unknown };
}

const WIRE_LEN = 2;
// Field numbers of Qdrant's points.proto (checked against the client's descriptors below).
const POINT_VECTORS = 4; // PointStruct.vectors
const VECTORS_NAMED = 2; // Vectors.vectors (NamedVectors)
const NAMED_MAP = 1; // NamedVectors.vectors (map<string, Vector>)
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;
const VECTOR_DENSE = 101; // Vector.dense
const DENSE_DATA = 1; // DenseVector.data

checkFieldNumbers();

const utf8 = new TextEncoder();

type Entry =
  | { key: Uint8Array; dense: Uint8Array; denseSize: number; vectorSize: number; size: number }
  | { key: Uint8Array; encoded: Uint8Array; size: number };

interface PointPlan {
  head: Uint8Array;
  entries: Entry[];
  namedSize: number;
  vectorsSize: number;
  /** Bytes of the PointStruct; 0 vectorsSize means the point has no vectors field. */
  size: number;
}

/** One point as a length-delimited field body: varint(length) then the PointStruct's bytes. */
export function encodePointField(point: PointInit): Uint8Array {
  const plan = planPoint(point);
  const out = new Uint8Array(varintSize(plan.size) + plan.size);
  finish(out, writePoint(out, writeVarint(out, 0, plan.size), plan));
  return out;
}

/**
 * Several points as the body of one unknown field `field` (= UpsertPoints.points): the first point's
 * varint(length) and bytes, then for each further point its own tag, length and bytes. Written after
 * a tag for `field`, the result is exactly `points` encoded as a repeated message field; one buffer for
 * the whole request, so protobuf-es copies it once instead of growing its buffer point by point.
 */
export function encodePointsField(field: number, points: readonly PointInit[]): Uint8Array {
  const plans = points.map(planPoint);
  let total = 0;
  for (const [i, plan] of plans.entries()) {
    total += (i === 0 ? 0 : tagSize(field)) + varintSize(plan.size) + plan.size;
  }
  const out = new Uint8Array(total);
  let pos = 0;
  for (const [i, plan] of plans.entries()) {
    pos = i === 0 ? writeVarint(out, pos, plan.size) : writeLengthDelimited(out, pos, field, plan.size);
    pos = writePoint(out, pos, plan);
  }
  finish(out, pos);
  return out;
}

function planPoint(point: PointInit): PointPlan {
  const { vectors, ...rest } = point;
  const head = toBinary(PointStructSchema, create(PointStructSchema, rest as never));
  if (vectors === undefined) {
    return { head, entries: [], namedSize: 0, vectorsSize: 0, size: head.length };
  }
  if (vectors.vectorsOptions.case !== "vectors") {
    throw new Error(`encode-points supports named vectors only, not "${vectors.vectorsOptions.case}"`);
  }
  const named = (vectors.vectorsOptions.value as { vectors: Record<string, NamedVector> }).vectors;
  const entries: Entry[] = [];
  let namedSize = 0;
  for (const [name, vector] of Object.entries(named)) {
    const key = utf8.encode(name);
    const keyPart = tagSize(ENTRY_KEY) + lengthSize(key.length);
    let entry: Entry;
    const value = vector.vector.value as { data?: unknown } | undefined;
    if (vector.vector.case === "dense" && value?.data instanceof Uint8Array) {
      const dense = value.data;
      const denseSize = tagSize(DENSE_DATA) + lengthSize(dense.length);
      const vectorSize = tagSize(VECTOR_DENSE) + lengthSize(denseSize);
      const size = keyPart + tagSize(ENTRY_VALUE) + lengthSize(vectorSize);
      entry = { key, dense, denseSize, vectorSize, size };
    } else {
      const encoded = toBinary(VectorSchema, create(VectorSchema, vector as never));
      entry = { key, encoded, size: keyPart + tagSize(ENTRY_VALUE) + lengthSize(encoded.length) };
    }
    entries.push(entry);
    namedSize += tagSize(NAMED_MAP) + lengthSize(entry.size);
  }
  const vectorsSize = tagSize(VECTORS_NAMED) + lengthSize(namedSize);
  return {
    head,
    entries,
    namedSize,
    vectorsSize,
    size: head.length + tagSize(POINT_VECTORS) + lengthSize(vectorsSize),
  };
}

function writePoint(out: Uint8Array, start: number, plan: PointPlan): number {
  let pos = start;
  out.set(plan.head, pos);
  pos += plan.head.length;
  if (plan.vectorsSize === 0) {
    return pos;
  }
  pos = writeLengthDelimited(out, pos, POINT_VECTORS, plan.vectorsSize);
  pos = writeLengthDelimited(out, pos, VECTORS_NAMED, plan.namedSize);
  for (const entry of plan.entries) {
    pos = writeLengthDelimited(out, pos, NAMED_MAP, entry.size);
    pos = writeLengthDelimited(out, pos, ENTRY_KEY, entry.key.length);
    out.set(entry.key, pos);
    pos += entry.key.length;
    if ("dense" in entry) {
      pos = writeLengthDelimited(out, pos, ENTRY_VALUE, entry.vectorSize);
      pos = writeLengthDelimited(out, pos, VECTOR_DENSE, entry.denseSize);
      pos = writeLengthDelimited(out, pos, DENSE_DATA, entry.dense.length);
      out.set(entry.dense, pos);
      pos += entry.dense.length;
    } else {
      pos = writeLengthDelimited(out, pos, ENTRY_VALUE, entry.encoded.length);
      out.set(entry.encoded, pos);
      pos += entry.encoded.length;
    }
  }
  if (pos - start !== plan.size) {
    throw new Error(`encode-points wrote a ${pos - start}-byte point planned as ${plan.size}`);
  }
  return pos;
}

function finish(out: Uint8Array, pos: number): void {
  if (pos !== out.length) {
    throw new Error(`encode-points wrote ${pos} bytes into ${out.length}`);
  }
}

/** Size of a tag plus a length prefix plus `length` bytes of payload. */
function lengthSize(length: number): number {
  return varintSize(length) + length;
}

function tagSize(field: number): number {
  return varintSize((field << 3) | WIRE_LEN);
}

function varintSize(value: number): number {
  let size = 1;
  while (value > 0x7f) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Uint8Array, pos: number, value: number): number {
  while (value > 0x7f) {
    out[pos++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

/** Writes the tag and length of a length-delimited field; the caller writes its `length` bytes. */
function writeLengthDelimited(out: Uint8Array, pos: number, field: number, length: number): number {
  return writeVarint(out, writeVarint(out, pos, (field << 3) | WIRE_LEN), length);
}

function checkFieldNumbers(): void {
  const number = (fields: readonly { name: string; number: number }[], name: string) =>
    fields.find((f) => f.name === name)?.number;
  const vectors = PointStructSchema.fields.find((f) => f.name === "vectors");
  const vectorsMessage = vectors?.message;
  const named = vectorsMessage?.fields.find((f) => f.name === "vectors")?.message;
  const dense = VectorSchema.fields.find((f) => f.name === "dense");
  const expected = [
    [vectors?.number, POINT_VECTORS],
    [vectorsMessage === undefined ? undefined : number(vectorsMessage.fields, "vectors"), VECTORS_NAMED],
    [named === undefined ? undefined : number(named.fields, "vectors"), NAMED_MAP],
    [dense?.number, VECTOR_DENSE],
    [dense?.message === undefined ? undefined : number(dense.message.fields, "data"), DENSE_DATA],
  ];
  if (expected.some(([actual, wanted]) => actual !== wanted)) {
    throw new Error("@qdrant/js-client-grpc: points.proto field numbers changed; update qdrant-wire/encode-points.ts");
  }
}
