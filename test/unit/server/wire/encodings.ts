import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { EmbeddingInputSchema } from "../../../../gen/dq/embeddings/v1/embedding_pb.js";

/** The legal wire encodings of a `repeated float` field. */
export const ENCODINGS = ["packed", "unpacked", "split-packed", "packed-then-unpacked"] as const;
export type Encoding = (typeof ENCODINGS)[number];

/** Appends field `no` holding `values` in the given encoding (a field may follow any other field). */
export function writeFloats(writer: BinaryWriter, no: number, values: Float32Array, encoding: Encoding): BinaryWriter {
  const packed = (part: Float32Array) =>
    writer.tag(no, WireType.LengthDelimited).bytes(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
  const unpacked = (part: Float32Array) => part.forEach((x) => writer.tag(no, WireType.Bit32).float(x));
  const half = values.length >> 1;
  switch (encoding) {
    case "packed":
      packed(values);
      break;
    case "unpacked":
      unpacked(values);
      break;
    case "split-packed":
      packed(values.subarray(0, half));
      packed(values.subarray(half, half + 3));
      packed(values.subarray(half + 3));
      break;
    case "packed-then-unpacked":
      packed(values.subarray(0, half));
      unpacked(values.subarray(half));
      break;
  }
  return writer;
}

/** The scalar fields of an EmbeddingInput a test sets. */
export interface InputFields {
  id?: string;
  catalogId?: string;
  kind?: string;
  content?: string;
  schemaName?: string;
  tableName?: string;
}

/** An EmbeddingInput's bytes: the other fields by protobuf-es, then the vector in `encoding`. */
export function encodeInput(init: InputFields, vector: Float32Array, encoding: Encoding): Uint8Array {
  const rest = toBinary(EmbeddingInputSchema, create(EmbeddingInputSchema, { ...init, vector: [] }));
  const writer = new BinaryWriter();
  writer.raw(rest);
  return writeFloats(writer, 8, vector, encoding).finish();
}

/** A message whose field `no` holds each of `messages` (e.g. BatchUpsertEmbeddingsRequest.embeddings = 1). */
export function encodeRepeatedMessage(no: number, messages: readonly Uint8Array[], prefix?: Uint8Array): Uint8Array {
  const writer = new BinaryWriter();
  if (prefix !== undefined) {
    writer.raw(prefix);
  }
  for (const message of messages) {
    writer.tag(no, WireType.LengthDelimited).bytes(message);
  }
  return writer.finish();
}

/** A deterministic vector with values that are exact in float32 and not all equal. */
export function sampleVector(dimensions: number, seed = 1): Float32Array {
  const out = new Float32Array(dimensions);
  let state = seed;
  for (let i = 0; i < dimensions; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    out[i] = (state / 2 ** 32) * 2 - 1;
  }
  return out;
}
