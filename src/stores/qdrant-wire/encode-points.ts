import { create, toBinary } from "@bufbuild/protobuf";
import { PointStructSchema, VectorSchema } from "@qdrant/js-client-grpc";
import { lengthDelimitedSize, SizedWriter, varintSize } from "../../wire/sized-writer.js";

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

/** A PointStruct init as `toPointStruct(point, float32Bytes)` builds it: dense `data` as bytes. */
export interface PointInit {
  vectors?: { vectorsOptions: { case: string; value: unknown } };
  [field: string]: unknown;
}

interface NamedVector {
  vector: { case: string | undefined; value?: unknown };
}

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
  const out = new SizedWriter(varintSize(plan.size) + plan.size);
  writePoint(out.varint(plan.size), plan);
  return out.finish();
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
    // The first point's tag is the unknown field's own; each further point brings its tag.
    total += i === 0 ? varintSize(plan.size) + plan.size : lengthDelimitedSize(field, plan.size);
  }
  const out = new SizedWriter(total);
  for (const [i, plan] of plans.entries()) {
    if (i === 0) {
      out.varint(plan.size);
    } else {
      out.lengthDelimited(field, plan.size);
    }
    writePoint(out, plan);
  }
  return out.finish();
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
    const keyPart = lengthDelimitedSize(ENTRY_KEY, key.length);
    let entry: Entry;
    const value = vector.vector.value as { data?: unknown } | undefined;
    if (vector.vector.case === "dense" && value?.data instanceof Uint8Array) {
      const dense = value.data;
      const denseSize = lengthDelimitedSize(DENSE_DATA, dense.length);
      const vectorSize = lengthDelimitedSize(VECTOR_DENSE, denseSize);
      const size = keyPart + lengthDelimitedSize(ENTRY_VALUE, vectorSize);
      entry = { key, dense, denseSize, vectorSize, size };
    } else {
      const encoded = toBinary(VectorSchema, create(VectorSchema, vector as never));
      entry = { key, encoded, size: keyPart + lengthDelimitedSize(ENTRY_VALUE, encoded.length) };
    }
    entries.push(entry);
    namedSize += lengthDelimitedSize(NAMED_MAP, entry.size);
  }
  const vectorsSize = lengthDelimitedSize(VECTORS_NAMED, namedSize);
  return {
    head,
    entries,
    namedSize,
    vectorsSize,
    size: head.length + lengthDelimitedSize(POINT_VECTORS, vectorsSize),
  };
}

function writePoint(out: SizedWriter, plan: PointPlan): void {
  const start = out.position;
  out.raw(plan.head);
  if (plan.vectorsSize !== 0) {
    out.lengthDelimited(POINT_VECTORS, plan.vectorsSize).lengthDelimited(VECTORS_NAMED, plan.namedSize);
    for (const entry of plan.entries) {
      out.lengthDelimited(NAMED_MAP, entry.size).lengthDelimited(ENTRY_KEY, entry.key.length).raw(entry.key);
      if ("dense" in entry) {
        out
          .lengthDelimited(ENTRY_VALUE, entry.vectorSize)
          .lengthDelimited(VECTOR_DENSE, entry.denseSize)
          .lengthDelimited(DENSE_DATA, entry.dense.length)
          .raw(entry.dense);
      } else {
        out.lengthDelimited(ENTRY_VALUE, entry.encoded.length).raw(entry.encoded);
      }
    }
  }
  if (out.position - start !== plan.size) {
    throw new Error(`encode-points wrote a ${out.position - start}-byte point planned as ${plan.size}`);
  }
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
