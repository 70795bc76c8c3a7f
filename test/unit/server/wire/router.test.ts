import { create } from "@bufbuild/protobuf";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import type { UpsertInput } from "../../../../src/core/ingest.js";
import { embeddingInputFromProto, queryVectorFromProto } from "../../../../src/server/convert.js";
import { withWireVectors } from "../../../../src/server/wire/router.js";
import {
  BatchUpsertEmbeddingsResponseSchema,
  EmbeddingService,
} from "../../../../gen/dq/embeddings/v1/embedding_service_pb.js";
import type { EmbeddingInput } from "../../../../gen/dq/embeddings/v1/embedding_pb.js";
import {
  RetrievalService,
  SearchEmbeddingsResponseSchema,
} from "../../../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { sampleVector } from "./encodings.js";

const DIMENSIONS = 64;
const CATALOG = "0b7e5f0a-6d3e-4c1a-8a57-3e2f9c1d4e5f";
const ids = ["6f1c1b9e-2c1d-4b53-9f3e-7c5a9d2e4b10", "7f1c1b9e-2c1d-4b53-9f3e-7c5a9d2e4b11"];

function serve(useBinaryFormat: boolean) {
  const received: { raw: EmbeddingInput[]; inputs: UpsertInput[]; query?: Float32Array } = { raw: [], inputs: [] };
  const transport = createRouterTransport(
    (router) => {
      withWireVectors(router)
        .service(EmbeddingService, {
          batchUpsertEmbeddings(request) {
            received.raw = request.embeddings;
            received.inputs = request.embeddings.map((e, i) =>
              embeddingInputFromProto(e, `embeddings[${i}]`, DIMENSIONS),
            );
            return create(BatchUpsertEmbeddingsResponseSchema, {
              results: received.inputs.map((input) => ({ id: input.id, outcome: 1 })),
            });
          },
        })
        .service(RetrievalService, {
          searchEmbeddings(request) {
            if (request.query.case === "vector") {
              received.query = queryVectorFromProto(request.query.value, "vector.values", DIMENSIONS);
            }
            return create(SearchEmbeddingsResponseSchema, {});
          },
        });
    },
    { transport: { useBinaryFormat } },
  );
  return {
    received,
    embeddings: createClient(EmbeddingService, transport),
    retrieval: createClient(RetrievalService, transport),
  };
}

describe("withWireVectors", () => {
  it("hands handlers binary vectors as wire bytes, which convert reads to the sent floats", async () => {
    const { received, embeddings } = serve(true);
    const vectors = [sampleVector(DIMENSIONS, 1), sampleVector(DIMENSIONS, 2)];
    const response = await embeddings.batchUpsertEmbeddings({
      embeddings: ids.map((id, i) => ({
        id,
        catalogId: CATALOG,
        kind: "table",
        content: `t${i}`,
        vector: Array.from(vectors[i]),
      })),
    });
    expect(response.results.map((r) => r.id)).toEqual(ids);
    expect(received.raw.map((e) => e.vector)).toEqual([[], []]); // never decoded to number[]
    expect(received.inputs.map((input) => input.vector)).toEqual(vectors);
  });

  it("still accepts vectors in Connect JSON requests", async () => {
    const { received, embeddings } = serve(false);
    const vector = sampleVector(DIMENSIONS, 3);
    await embeddings.batchUpsertEmbeddings({
      embeddings: [{ id: ids[0], catalogId: CATALOG, kind: "table", content: "t", vector: Array.from(vector) }],
    });
    expect(received.inputs[0].vector).toEqual(vector);
  });

  it.each([true, false])("reads a search's query vector (binary: %s)", async (useBinaryFormat) => {
    const { received, retrieval } = serve(useBinaryFormat);
    const vector = sampleVector(DIMENSIONS, 4);
    await retrieval.searchEmbeddings({
      catalogId: CATALOG,
      query: { case: "vector", value: { values: Array.from(vector) } },
    });
    expect(received.query).toEqual(vector);
  });
});
