import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { QueryBatchPointsSchema, QueryPointsSchema } from "@qdrant/js-client-grpc";
import { describe, expect, it } from "vitest";
import { toFilter } from "../../../../src/stores/qdrant-vector-store.js";
import {
  shadowQueryBatch,
  shadowQueryPoints,
  shadowQuerySchemas,
  toClientQuery,
  type WireQueryPoints,
} from "../../../../src/stores/qdrant-wire/query-points.js";

const CATALOG = "0b7e5f0a-6d3e-4c1a-8a57-3e2f9c1d4e5f";

function vectorOf(dimensions: number, seed: number): Float32Array {
  const vector = new Float32Array(dimensions);
  for (let d = 0; d < dimensions; d++) vector[d] = Math.sin(seed * 131 + d * 0.37) * (d % 7 === 0 ? 1e-20 : 1);
  return vector;
}

function denseQuery(vector: Float32Array): WireQueryPoints {
  return {
    collectionName: "embeddings",
    using: "dense",
    nearest: { dense: vector },
    filter: toFilter({ catalogId: CATALOG, kinds: ["table", "column"], schemaName: "public" }),
    limit: 18n,
    offset: 4n,
    scoreThreshold: 0.25,
    withPayload: { selectorOptions: { case: "enable", value: false } },
  };
}

describe("Points.Query with the vector as bytes", () => {
  it.each([1, 2, 8, 3072])("writes a %i-d query byte for byte as toBinary of the real QueryPoints", (dimensions) => {
    const vector = vectorOf(dimensions, dimensions);
    const request = denseQuery(vector);
    const ours = toBinary(shadowQuerySchemas().queryPoints, shadowQueryPoints(request));
    const real = toBinary(QueryPointsSchema, create(QueryPointsSchema, toClientQuery(request)));
    expect(Buffer.from(ours).equals(Buffer.from(real))).toBe(true);
    // And the real schema reads the floats back exactly.
    const decoded = fromBinary(QueryPointsSchema, ours);
    const variant = decoded.query?.variant;
    expect(variant?.case).toBe("nearest");
    const nearest = variant?.case === "nearest" ? variant.value.variant : undefined;
    expect(nearest?.case === "dense" ? Float32Array.from(nearest.value.data) : undefined).toEqual(vector);
  });

  it("reads the vector from its Float32Array view, wherever that sits in its buffer", () => {
    const vector = vectorOf(16, 3);
    const backing = new Float32Array(40);
    backing.set(vector, 7);
    const viewed = toBinary(shadowQuerySchemas().queryPoints, shadowQueryPoints(denseQuery(backing.subarray(7, 23))));
    const real = toBinary(QueryPointsSchema, create(QueryPointsSchema, toClientQuery(denseQuery(vector))));
    expect(Buffer.from(viewed).equals(Buffer.from(real))).toBe(true);
  });

  it("writes a hybrid QueryBatch (dense and sparse branches, payload keys) as the real client does", () => {
    const filter = toFilter({ catalogId: CATALOG });
    const withPayload = { selectorOptions: { case: "include" as const, value: { fields: ["kind", "schema"] } } };
    const queryPoints: WireQueryPoints[] = [
      { collectionName: "c", using: "dense", nearest: { dense: vectorOf(64, 1) }, filter, limit: 120n, withPayload },
      {
        collectionName: "c",
        using: "sparse",
        nearest: { sparse: { indices: [3, 17, 4000], values: [0.5, 1.25, 2] } },
        filter,
        limit: 120n,
        scoreThreshold: -1,
        withPayload,
      },
    ];
    const ours = toBinary(
      shadowQuerySchemas().queryBatchPoints,
      shadowQueryBatch({ collectionName: "c", queryPoints }),
    );
    const real = toBinary(
      QueryBatchPointsSchema,
      create(QueryBatchPointsSchema, { collectionName: "c", queryPoints: queryPoints.map(toClientQuery) }),
    );
    expect(Buffer.from(ours).equals(Buffer.from(real))).toBe(true);
  });
});
