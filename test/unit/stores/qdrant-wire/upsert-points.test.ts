import { create, type Message, toBinary } from "@bufbuild/protobuf";
import { createRouterTransport } from "@connectrpc/connect";
import {
  PointsOperationResponseSchema,
  PointStructSchema,
  type UpsertPoints,
  UpsertPointsSchema,
} from "@qdrant/js-client-grpc";
import { describe, expect, it } from "vitest";
import { toPointStruct } from "../../../../src/stores/qdrant-vector-store.js";
import { encodePointField, encodePointsField } from "../../../../src/stores/qdrant-wire/encode-points.js";
import { shadowPoints } from "../../../../src/stores/qdrant-wire/shadow-points.js";
import { createQdrantWireUpsert, upsertPointsMessage } from "../../../../src/stores/qdrant-wire/upsert-points.js";
import { float32Bytes } from "../../../../src/wire/float32.js";
import { realPointsService, realUpsertBytes, samplePoints } from "./points-fixture.js";

const DIMENSIONS = 3072;

describe("encodePointField", () => {
  it.each([1, 2, 8, 3072])("writes a %i-d point as the real PointStruct, with its length prefix", (dimensions) => {
    for (const point of samplePoints(4, dimensions)) {
      const real = toBinary(
        PointStructSchema,
        create(
          PointStructSchema,
          toPointStruct(point, (v) => Array.from(v)),
        ),
      );
      const field = encodePointField(toPointStruct(point, float32Bytes));
      const prefix = field.length - real.length;
      expect(prefix).toBeGreaterThan(0);
      expect(Buffer.from(field.subarray(prefix)).equals(Buffer.from(real))).toBe(true);
      let length = 0;
      for (let i = prefix - 1; i >= 0; i--) length = length * 128 + (field[i] & 0x7f);
      expect(length).toBe(real.length);
    }
  });
});

describe("encodePointsField", () => {
  it("writes several points as the body of a repeated message field", () => {
    const points = samplePoints(3, 16);
    const real = toBinary(
      UpsertPointsSchema,
      create(UpsertPointsSchema, { points: points.map((p) => toPointStruct(p, (v) => Array.from(v))) }),
    );
    const body = encodePointsField(
      3,
      points.map((p) => toPointStruct(p, float32Bytes)),
    );
    expect(real[0]).toBe((3 << 3) | 2); // the tag protobuf-es writes before the unknown field's body
    expect(Buffer.from(body).equals(Buffer.from(real.subarray(1)))).toBe(true);
  });
});

describe("shadow UpsertPoints", () => {
  it("encodes byte for byte as the real message, vectors as bytes", () => {
    const points = samplePoints(5, DIMENSIONS);
    const shadow = upsertPointsMessage({
      collectionName: "embeddings",
      wait: true,
      points: points.map((p) => toPointStruct(p, float32Bytes)),
    });
    expect(
      Buffer.from(toBinary(shadowPoints().upsertPoints, shadow)).equals(
        Buffer.from(realUpsertBytes("embeddings", points)),
      ),
    ).toBe(true);
  });

  it("leaves the client's real descriptors alone", () => {
    expect(shadowPoints().upsertPoints.fields.map((f) => f.name)).not.toContain("points");
    expect(
      realPointsService()
        .methods.find((m) => m.name === "Upsert")
        ?.input.fields.map((f) => f.name),
    ).toContain("points");
  });
});

describe("createQdrantWireUpsert", () => {
  it("delivers points a server with Qdrant's real descriptors decodes to the same vectors", async () => {
    const received: UpsertPoints[] = [];
    const transport = createRouterTransport((router) => {
      router.service(realPointsService(), {
        upsert(request: Message) {
          received.push(request as UpsertPoints);
          return create(PointsOperationResponseSchema, {});
        },
      } as never);
    });
    const points = samplePoints(3, DIMENSIONS);
    const upsert = createQdrantWireUpsert({ host: "unused", port: 0, timeoutMs: 5_000, transport });
    await upsert.upsert({ collectionName: "c", wait: true, points: points.map((p) => toPointStruct(p, float32Bytes)) });
    expect(received).toHaveLength(1);
    expect(received[0].collectionName).toBe("c");
    expect(received[0].wait).toBe(true);
    const got = received[0].points.map((p) => {
      const options = p.vectors?.vectorsOptions;
      const dense = options?.case === "vectors" ? options.value.vectors.dense?.vector : undefined;
      return dense?.case === "dense" ? Float32Array.from(dense.value.data) : undefined;
    });
    expect(got).toEqual(points.map((p) => p.vector));
    expect(received[0].points.map((p) => p.id?.pointIdOptions.value)).toEqual(points.map((p) => p.id));
  });
});
