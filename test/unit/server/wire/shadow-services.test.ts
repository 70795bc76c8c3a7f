import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { create, fromBinary, fromJson, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../../../src/core/errors.js";
import { embeddingInputFromProto, queryVectorFromProto } from "../../../../src/server/convert.js";
import { JSON_ONLY_FIELD, shadowServices } from "../../../../src/server/wire/shadow-services.js";
import { EmbeddingInputSchema, type EmbeddingInput } from "../../../../gen/dq/embeddings/v1/embedding_pb.js";
import {
  BatchUpsertEmbeddingsRequestSchema,
  EmbeddingService,
  type BatchUpsertEmbeddingsRequest,
} from "../../../../gen/dq/embeddings/v1/embedding_service_pb.js";
import {
  RetrievalService,
  type SearchEmbeddingsRequest,
  SearchEmbeddingsRequestSchema,
} from "../../../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { ENCODINGS, encodeInput, encodeRepeatedMessage, sampleVector, writeFloats } from "./encodings.js";

const DIMENSIONS = 3072;
const ID = "6f1c1b9e-2c1d-4b53-9f3e-7c5a9d2e4b10";
const CATALOG = "0b7e5f0a-6d3e-4c1a-8a57-3e2f9c1d4e5f";
const input = {
  id: ID,
  catalogId: CATALOG,
  kind: "column",
  content: "Column: public.users.email",
  schemaName: "public",
  tableName: "users",
};

function shadowInput(method: string): DescMessage {
  const service = shadowServices().get(EmbeddingService.typeName);
  const found = service?.methods.find((m) => m.name === method);
  if (found === undefined) throw new Error(`no shadow ${method}`);
  return found.input;
}

describe("shadow services", () => {
  it("keep every method, name and message type of the real services", () => {
    for (const real of [EmbeddingService, RetrievalService]) {
      const shadow = shadowServices().get(real.typeName);
      expect(
        shadow?.methods.map((m) => [m.name, m.localName, m.methodKind, m.input.typeName, m.output.typeName]),
      ).toEqual(real.methods.map((m) => [m.name, m.localName, m.methodKind, m.input.typeName, m.output.typeName]));
    }
  });

  it("leave the real descriptors (what reflection serves) untouched", () => {
    expect(EmbeddingInputSchema.fields.find((f) => f.name === "vector")?.number).toBe(8);
    const shadow = shadowInput("UpsertEmbedding").fields.find((f) => f.name === "embedding")?.message;
    expect(shadow?.fields.find((f) => f.name === "vector")?.number).toBe(JSON_ONLY_FIELD);
  });

  it.each(ENCODINGS)("decode a %s vector to the floats the real schema reads, without a number[]", (encoding) => {
    const vector = sampleVector(DIMENSIONS, 7);
    const bytes = encodeRepeatedMessage(1, [
      encodeInput(input, vector, encoding),
      encodeInput({ ...input, content: "second" }, vector, encoding),
    ]);
    const real = fromBinary(BatchUpsertEmbeddingsRequestSchema, bytes);
    const shadow = fromBinary(shadowInput("BatchUpsertEmbeddings"), bytes) as BatchUpsertEmbeddingsRequest;
    expect(shadow.embeddings[0].vector).toEqual([]);
    const converted = shadow.embeddings.map((embedding, i) =>
      embeddingInputFromProto(embedding, `embeddings[${i}]`, DIMENSIONS),
    );
    const expected = real.embeddings.map((embedding, i) =>
      embeddingInputFromProto(embedding, `embeddings[${i}]`, DIMENSIONS),
    );
    expect(converted).toEqual(expected);
    expect(converted[1].vector).toEqual(vector);
    expect(converted[1].content).toBe("second");
  });

  it("view the request's own bytes for a packed vector, moving misaligned ones in place", () => {
    const vector = sampleVector(DIMENSIONS, 3);
    const seen = new Set<number>();
    for (const kind of ["t", "tt", "ttt", "tttt"]) {
      const bytes = encodeRepeatedMessage(1, [encodeInput({ ...input, kind }, vector, "packed")]);
      const shadow = fromBinary(shadowInput("BatchUpsertEmbeddings"), bytes) as BatchUpsertEmbeddingsRequest;
      const converted = embeddingInputFromProto(shadow.embeddings[0], "embeddings[0]", DIMENSIONS).vector;
      expect(converted).toEqual(vector);
      expect(converted?.buffer).toBe(bytes.buffer);
      const floatsAt = bytes.length - vector.byteLength; // the vector is the input's last field
      seen.add((bytes.byteOffset + floatsAt) % 4);
      // The other fields were decoded before and are unchanged.
      expect(shadow.embeddings[0].kind).toBe(kind);
    }
    expect(seen).toEqual(new Set([0, 1, 2, 3]));
  });

  it("still decode vectors sent as JSON (Connect protocol)", () => {
    const vector = sampleVector(8, 5);
    const json = {
      embeddings: [{ id: ID, catalogId: CATALOG, kind: "table", content: "Table: users", vector: Array.from(vector) }],
    };
    const shadow = fromJson(shadowInput("BatchUpsertEmbeddings"), json as never) as BatchUpsertEmbeddingsRequest;
    expect(embeddingInputFromProto(shadow.embeddings[0], "embeddings[0]", 8).vector).toEqual(vector);
  });

  it("accept an input without a vector", () => {
    const bytes = toBinary(EmbeddingInputSchema, create(EmbeddingInputSchema, input));
    const shadow = fromBinary(shadowInput("UpsertEmbedding").fields[0].message as DescMessage, bytes) as EmbeddingInput;
    expect(embeddingInputFromProto(shadow, "embedding", DIMENSIONS).vector).toBeUndefined();
  });

  it.each(ENCODINGS)("name the field of a NaN in a %s vector", (encoding) => {
    const vector = sampleVector(DIMENSIONS, 9);
    vector[2000] = Number.NaN;
    const bytes = encodeRepeatedMessage(1, [
      encodeInput(input, sampleVector(DIMENSIONS), "packed"),
      encodeInput(input, vector, encoding),
    ]);
    const shadow = fromBinary(shadowInput("BatchUpsertEmbeddings"), bytes) as BatchUpsertEmbeddingsRequest;
    expect(() => embeddingInputFromProto(shadow.embeddings[1], "embeddings[1]", DIMENSIONS)).toThrow(
      new InvalidArgumentError(
        "embeddings[1].vector[2000]",
        "must be a finite number (NaN and Infinity are not allowed)",
      ),
    );
  });

  it.each(ENCODINGS)("name the field of a %s vector of the wrong dimension", (encoding) => {
    const bytes = encodeRepeatedMessage(1, [encodeInput(input, sampleVector(DIMENSIONS - 1), encoding)]);
    const shadow = fromBinary(shadowInput("BatchUpsertEmbeddings"), bytes) as BatchUpsertEmbeddingsRequest;
    expect(() => embeddingInputFromProto(shadow.embeddings[0], "embeddings[0]", DIMENSIONS)).toThrow(
      /^embeddings\[0\]\.vector: has 3071 values/,
    );
  });

  it("name the field of a malformed packed vector", () => {
    const good = encodeInput(input, sampleVector(4), "packed");
    const bad = good.slice();
    bad[bad.length - 17] = 15; // the length prefix of the 16 float bytes: 15 is not a multiple of 4
    const bytes = encodeRepeatedMessage(1, [bad.subarray(0, bad.length - 1)]);
    const shadow = fromBinary(shadowInput("BatchUpsertEmbeddings"), bytes) as BatchUpsertEmbeddingsRequest;
    expect(() => embeddingInputFromProto(shadow.embeddings[0], "embeddings[0]", 4)).toThrow(
      /^embeddings\[0\]\.vector: is malformed/,
    );
  });

  it.each(ENCODINGS)("decode a %s QueryVector of a search", (encoding) => {
    const vector = sampleVector(DIMENSIONS, 11);
    const query = writeFloats(new BinaryWriter(), 1, vector, encoding).finish();
    const rest = toBinary(
      SearchEmbeddingsRequestSchema,
      create(SearchEmbeddingsRequestSchema, { catalogId: CATALOG, limit: 5 }),
    );
    const request = encodeRepeatedMessage(3, [query], rest);
    const method = shadowServices()
      .get(RetrievalService.typeName)
      ?.methods.find((m) => m.name === "SearchEmbeddings");
    const shadow = fromBinary(method?.input as DescMessage, request) as SearchEmbeddingsRequest;
    expect(shadow.limit).toBe(5);
    if (shadow.query.case !== "vector") throw new Error(`query is ${shadow.query.case}`);
    expect(queryVectorFromProto(shadow.query.value, "vector.values", DIMENSIONS)).toEqual(vector);
  });
});
