import { create, toBinary, type Message } from "@bufbuild/protobuf";
import { createRouterTransport } from "@connectrpc/connect";
import { PointsOperationResponseSchema, type UpsertPoints } from "@qdrant/js-client-grpc";
import { describe, expect, it } from "vitest";
import { toPointStruct } from "../../../../src/stores/qdrant-vector-store.js";
import { shadowPoints } from "../../../../src/stores/qdrant-wire/shadow-points.js";
import { createQdrantWireUpsert, denseBytes } from "../../../../src/stores/qdrant-wire/upsert-points.js";
import { realPointsService, realUpsertBytes, samplePoints } from "./points-fixture.js";

const DIMENSIONS = 3072;

describe("shadow UpsertPoints", () => {
  it("encodes byte for byte as the real message, vectors as bytes", () => {
    const points = samplePoints(5, DIMENSIONS);
    const { upsertPoints } = shadowPoints();
    const shadow = create(upsertPoints, { collectionName: "embeddings", wait: true, points: points.map((p) => toPointStruct(p, denseBytes)) } as never);
    expect(Buffer.from(toBinary(upsertPoints, shadow)).equals(Buffer.from(realUpsertBytes("embeddings", points)))).toBe(true);
  });

  it("keeps the real descriptors' DenseVector a repeated float", () => {
    const dense = shadowPoints().upsertPoints.file.messages.find((m) => m.name === "DenseVector");
    expect(dense?.fields[0].fieldKind).toBe("scalar");
    expect(realPointsService().methods.find((m) => m.name === "Upsert")?.input.file.messages.find((m) => m.name === "DenseVector")?.fields[0].fieldKind).toBe("list");
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
    await upsert.upsert({ collectionName: "c", wait: true, points: points.map((p) => toPointStruct(p, denseBytes)) });
    expect(received).toHaveLength(1);
    expect(received[0].collectionName).toBe("c");
    const got = received[0].points.map((p) => {
      const options = p.vectors?.vectorsOptions;
      const dense = options?.case === "vectors" ? options.value.vectors.dense?.vector : undefined;
      return dense?.case === "dense" ? Float32Array.from(dense.value.data) : undefined;
    });
    expect(got).toEqual(points.map((p) => p.vector));
  });
});
