// Cases modelled on qdrant/qdrant tests/basic_grpc_test.sh and qdrant-js
// packages/js-client-grpc/tests/integration/qdrant-client.test.ts, driven through the real client.
import {
  ConnectError,
  ConnectErrorCode as Code,
  Distance,
  FieldType,
  QdrantClient,
  UpdateStatus,
} from "@qdrant/js-client-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dbl, idOf, int, list, num, obj, plainPayload, point, str, uuid } from "./proto.js";
import { startTarget, uniqueName, type Target } from "./target.js";

let target: Target;
beforeAll(async () => {
  target = await startTarget();
});
afterAll(async () => {
  await target.stop();
});

async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

const UUID_A = "98a9a4b1-4ef2-46fb-8315-a97d874fe1d7";
const UUID_B = "f0e09527-b096-42a8-94e9-ea94d342b925";

describe.each([
  { compression: false, checkCompatibility: false },
  { compression: true, checkCompatibility: true },
])("basic gRPC scenario (compression $compression)", (clientOptions) => {
  let client: QdrantClient;
  const name = uniqueName("basic");

  beforeAll(async () => {
    client = target.client(clientOptions);
    // Dot distance and a named sparse vector, as in basic_grpc_test.sh.
    await client.api("collections").create({
      collectionName: name,
      vectorsConfig: { config: { case: "params", value: { size: 4n, distance: Distance.Dot } } },
      sparseVectorsConfig: { map: { sparse: {} } },
    });
    const r = await client.api("points").upsert({
      collectionName: name,
      wait: true,
      points: [
        point(1, [0.05, 0.61, 0.76, 0.74], {
          city: str("Berlin"),
          country: str("Germany"),
          population: int(1000000),
          square: dbl(12.5),
          coords: obj({ lat: dbl(1.0), lon: dbl(2.0) }),
        }),
        {
          // The unnamed dense vector and the named sparse one.
          id: num(2),
          payload: { city: list(str("Berlin"), str("London")) },
          vectors: {
            vectorsOptions: {
              case: "vectors",
              value: {
                vectors: {
                  "": { vector: { case: "dense", value: { data: [0.19, 0.81, 0.75, 0.11] } } },
                  sparse: { vector: { case: "sparse", value: { indices: [1, 7], values: [0.5, 0.25] } } },
                },
              },
            },
          },
        },
        point(3, [0.36, 0.55, 0.47, 0.94], { city: list(str("Berlin"), str("Moscow")) }),
        point(4, [0.18, 0.01, 0.85, 0.8], { city: list(str("London"), str("Moscow")) }),
        point(UUID_A, [0.24, 0.18, 0.22, 0.44], { count: list(int(0)) }),
        point(UUID_B, [0.35, 0.08, 0.11, 0.44]),
      ],
    });
    expect(r.result?.status).toBe(UpdateStatus.Completed);
  });
  afterAll(async () => {
    await client.api("collections").delete({ collectionName: name });
  });

  it("answers HealthCheck with Qdrant's title and a 1.19 version", async () => {
    const health = await client.api("service").healthCheck({});
    expect(health.title).toBe("qdrant - vector search engine");
    expect(health.version.startsWith("1.19") || !target.embedded).toBe(true);
  });

  it("lists, finds and describes the collection", async () => {
    const listed = await client.api("collections").list({});
    expect(listed.collections.map((c) => c.name)).toContain(name);
    const exists = await client.api("collections").collectionExists({ collectionName: name });
    expect(exists.result?.exists).toBe(true);
    const missing = await client.api("collections").collectionExists({ collectionName: `${name}_nope` });
    expect(missing.result?.exists).toBe(false);
    const info = await client.api("collections").get({ collectionName: name });
    expect(info.result?.pointsCount).toBe(6n);
    const vc = info.result?.config?.params?.vectorsConfig?.config;
    expect(vc?.case).toBe("params");
    if (vc?.case === "params") {
      expect(vc.value.size).toBe(4n);
      expect(vc.value.distance).toBe(Distance.Dot);
    }
    expect(Object.keys(info.result?.config?.params?.sparseVectorsConfig?.map ?? {})).toEqual(["sparse"]);
  });

  it("rejects a duplicate collection with ALREADY_EXISTS (collections_ops.rs)", async () => {
    const err = await rejection(
      client.api("collections").create({
        collectionName: name,
        vectorsConfig: { config: { case: "params", value: { size: 4n, distance: Distance.Dot } } },
      }),
    );
    expect(err.code).toBe(Code.AlreadyExists);
    expect(err.rawMessage).toBe(`Wrong input: Collection \`${name}\` already exists!`);
  });

  it("answers NOT_FOUND with Qdrant's message for an unknown collection", async () => {
    const missing = `${name}_missing`;
    for (const call of [
      () => client.api("collections").get({ collectionName: missing }),
      () => client.api("points").search({ collectionName: missing, vector: [1, 2, 3, 4], limit: 1n }),
      () => client.api("points").count({ collectionName: missing }),
    ]) {
      const err = await rejection(call());
      expect(err.code).toBe(Code.NotFound);
      expect(err.rawMessage).toBe(`Not found: Collection \`${missing}\` doesn't exist!`);
    }
  });

  it("gets points by num and uuid id with payload of every type and vectors", async () => {
    const got = await client.api("points").get({
      collectionName: name,
      ids: [num(1), num(2), uuid(UUID_A), num(999)],
      withPayload: { selectorOptions: { case: "enable", value: true } },
      withVectors: { selectorOptions: { case: "enable", value: true } },
    });
    expect(got.result.map(idOf).sort()).toEqual(["1", "2", UUID_A].sort());
    const one = got.result.find((p) => idOf(p) === "1")!;
    expect(plainPayload(one.payload)).toEqual({
      city: "Berlin",
      country: "Germany",
      population: 1000000n,
      square: 12.5,
      coords: { lat: 1, lon: 2 },
    });
    expect(one.payload.population.kind.case).toBe("integerValue");
    expect(one.payload.square.kind.case).toBe("doubleValue");
    // The output form follows the vectors the point returns, not the collection's config
    // (lib/segment/src/data_types/vectors.rs `From<NamedVectors> for VectorStructInternal`, then
    // lib/api/src/conversions/vectors.rs `From<VectorStructInternal> for grpc::VectorsOutput`):
    // point 1 holds only the unnamed dense vector, so it comes back as the bare `vector`...
    const v = one.vectors?.vectorsOptions;
    expect(v?.case).toBe("vector");
    if (v?.case === "vector") {
      expect(v.value.vector.case).toBe("dense");
      if (v.value.vector.case === "dense")
        expect(v.value.vector.value.data.map((x) => Math.round(x * 100) / 100)).toEqual([0.05, 0.61, 0.76, 0.74]);
    }
    // ...while point 2 also holds the sparse vector: a `vectors` map with "" for the dense one.
    const two = got.result.find((p) => idOf(p) === "2")!.vectors?.vectorsOptions;
    expect(two?.case).toBe("vectors");
    if (two?.case === "vectors") {
      expect(Object.keys(two.value.vectors).sort()).toEqual(["", "sparse"]);
      expect(two.value.vectors[""].vector.case).toBe("dense");
      const sparse = two.value.vectors.sparse.vector;
      expect(sparse.case).toBe("sparse");
      if (sparse.case === "sparse")
        expect([sparse.value.indices, sparse.value.values]).toEqual([
          [1, 7],
          [0.5, 0.25],
        ]);
    }
    // Selecting only the unnamed vector of point 2 gives the bare form again.
    const onlyDense = await client.api("points").get({
      collectionName: name,
      ids: [num(2)],
      withVectors: { selectorOptions: { case: "include", value: { names: [""] } } },
    });
    expect(onlyDense.result[0].vectors?.vectorsOptions.case).toBe("vector");
  });

  it("searches with Dot scores and a keyword filter that hits list elements", async () => {
    const res = await client.api("points").search({
      collectionName: name,
      vector: [0.2, 0.1, 0.9, 0.7],
      limit: 3n,
      filter: {
        must: [
          {
            conditionOneOf: {
              case: "field",
              value: { key: "city", match: { matchValue: { case: "keyword", value: "London" } } },
            },
          },
        ],
      },
      withPayload: { selectorOptions: { case: "enable", value: true } },
    });
    expect(res.result.map(idOf)).toEqual(["4", "2"]);
    // Dot product, computed by hand: 0.2*0.18 + 0.1*0.01 + 0.9*0.85 + 0.7*0.8
    expect(res.result[0].score).toBeCloseTo(1.362, 5);
    const unfiltered = await client
      .api("points")
      .search({ collectionName: name, vector: [0.2, 0.1, 0.9, 0.7], limit: 3n });
    expect(unfiltered.result.map(idOf)).toEqual(["4", "1", "3"]);
  });

  it("answers wrong dimensions with INVALID_ARGUMENT and writes nothing of a bad batch", async () => {
    const err = await rejection(
      client.api("points").upsert({
        collectionName: name,
        wait: true,
        points: [point(50, [1, 2, 3, 4]), point(51, [1, 2, 3])],
      }),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe("Wrong input: Vector dimension error: expected dim: 4, got 3");
    const got = await client.api("points").get({ collectionName: name, ids: [num(50)] });
    expect(got.result).toHaveLength(0);
    const searchErr = await rejection(client.api("points").search({ collectionName: name, vector: [1, 2], limit: 1n }));
    expect(searchErr.code).toBe(Code.InvalidArgument);
    expect(searchErr.rawMessage).toBe("Wrong input: Vector dimension error: expected dim: 4, got 2");
  });

  it("rejects limit 0 with Qdrant's validation message", async () => {
    const err = await rejection(client.api("points").search({ collectionName: name, vector: [1, 2, 3, 4], limit: 0n }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe("Validation error in body: [limit: value 0 invalid, must be 1 or larger]");
  });

  it("creates a keyword index and reports it in collection info", async () => {
    const r = await client.api("points").createFieldIndex({
      collectionName: name,
      fieldName: "city",
      fieldType: FieldType.FieldTypeKeyword,
      fieldIndexParams: { indexParams: { case: "keywordIndexParams", value: {} } },
      wait: true,
    });
    expect(r.result?.status).toBe(UpdateStatus.Completed);
    const info = await client.api("collections").get({ collectionName: name });
    expect(Object.keys(info.result?.payloadSchema ?? {})).toContain("city");
    const count = await client.api("points").count({
      collectionName: name,
      exact: true,
      filter: {
        should: [
          {
            conditionOneOf: {
              case: "field",
              value: { key: "city", match: { matchValue: { case: "keyword", value: "Moscow" } } },
            },
          },
        ],
      },
    });
    expect(count.result?.count).toBe(2n);
  });
});
