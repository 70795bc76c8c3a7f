import { create, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError, createConnectRouter } from "@connectrpc/connect";
import { createUniversalHandlerClient } from "@connectrpc/connect/protocol";
import { PointsOperationResponseSchema, type UpsertPoints } from "@qdrant/js-client-grpc";
import { describe, expect, it } from "vitest";
import { DENSE_VECTOR, SPARSE_VECTOR } from "../../../../src/stores/qdrant-vector-store.js";
import {
  encodeUpsertPoints,
  encodeUpsertRequest,
  ENVELOPE_HEADER_BYTES,
} from "../../../../src/stores/qdrant-wire/encode-points.js";
import { createQdrantWireUpsert } from "../../../../src/stores/qdrant-wire/upsert-points.js";
import { realPointsService, realUpsertBytes, samplePoints } from "./points-fixture.js";

const DIMENSIONS = 3072;
const names = { dense: DENSE_VECTOR, sparse: SPARSE_VECTOR };

describe("encodeUpsertPoints", () => {
  it.each([1, 2, 8, 3072])("writes %i-d points byte for byte as toBinary of the real UpsertPoints", (dimensions) => {
    for (const count of [1, 6]) {
      const points = samplePoints(count, dimensions);
      const ours = encodeUpsertPoints({ collectionName: "embeddings", wait: true, points }, names);
      expect(Buffer.from(ours).equals(Buffer.from(realUpsertBytes("embeddings", points)))).toBe(true);
    }
  });

  it("writes wait = false and an empty batch as the real message does", () => {
    const ours = encodeUpsertPoints({ collectionName: "c", wait: false, points: [] }, names);
    expect(Buffer.from(ours).equals(Buffer.from(realUpsertBytes("c", [], false)))).toBe(true);
  });

  it("reads each vector from its Float32Array view, wherever that sits in its buffer", () => {
    const [point] = samplePoints(1, 16);
    const backing = new Float32Array(40);
    backing.set(point.vector, 7);
    const viewed = { ...point, vector: backing.subarray(7, 23) };
    const ours = encodeUpsertPoints({ collectionName: "c", wait: true, points: [viewed] }, names);
    expect(Buffer.from(ours).equals(Buffer.from(realUpsertBytes("c", [point])))).toBe(true);
  });

  it("writes the same bytes into a reused buffer, whatever it held", () => {
    const points = samplePoints(3, 64);
    const fresh = encodeUpsertRequest({ collectionName: "c", wait: true, points }, names);
    const reuse = new Uint8Array(fresh.length + 100).fill(0xff);
    const reused = encodeUpsertRequest({ collectionName: "c", wait: true, points }, names, reuse);
    expect(reused.buffer).toBe(reuse.buffer);
    expect(Buffer.from(reused).equals(Buffer.from(fresh))).toBe(true);
    const tooSmall = new Uint8Array(10);
    expect(encodeUpsertRequest({ collectionName: "c", wait: true, points }, names, tooSmall).buffer).not.toBe(
      tooSmall.buffer,
    );
  });

  it("prefixes the gRPC envelope: not compressed, big-endian length", () => {
    const points = samplePoints(2, 8);
    const body = encodeUpsertRequest({ collectionName: "c", wait: true, points }, names);
    const message = body.subarray(ENVELOPE_HEADER_BYTES);
    expect(body[0]).toBe(0);
    expect(new DataView(body.buffer, body.byteOffset).getUint32(1)).toBe(message.length);
  });
});

describe("createQdrantWireUpsert", () => {
  function serverWith(upsert: (request: UpsertPoints) => void) {
    const router = createConnectRouter();
    router.service(realPointsService(), {
      upsert(request: Message) {
        upsert(request as UpsertPoints);
        return create(PointsOperationResponseSchema, {});
      },
    } as never);
    return createUniversalHandlerClient(router.handlers);
  }

  it("delivers points a server with Qdrant's real descriptors decodes to the same vectors", async () => {
    const received: UpsertPoints[] = [];
    const points = samplePoints(3, DIMENSIONS);
    const upsert = createQdrantWireUpsert({
      host: "unused",
      port: 0,
      timeoutMs: 5_000,
      vectorNames: names,
      httpClient: serverWith((request) => received.push(request)),
    });
    await upsert.upsert({ collectionName: "c", wait: true, points });
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

    // The next calls write into the first call's buffer: smaller, then larger than it.
    for (const next of [samplePoints(1, DIMENSIONS), samplePoints(5, DIMENSIONS)]) {
      await upsert.upsert({ collectionName: "d", wait: true, points: next });
      const last = received[received.length - 1];
      expect(last.collectionName).toBe("d");
      expect(last.points.map((p) => p.id?.pointIdOptions.value)).toEqual(next.map((p) => p.id));
    }
  });

  it("rejects with the server's status and message", async () => {
    const upsert = createQdrantWireUpsert({
      host: "unused",
      port: 0,
      timeoutMs: 5_000,
      vectorNames: names,
      httpClient: serverWith(() => {
        throw new ConnectError("Wrong input: Vector dimension error", Code.InvalidArgument);
      }),
    });
    const failure = upsert.upsert({ collectionName: "c", wait: true, points: samplePoints(1, 4) });
    await expect(failure).rejects.toMatchObject({ code: Code.InvalidArgument, rawMessage: /dimension error/ });
  });

  it("does not send once the caller's signal has aborted", async () => {
    let calls = 0;
    const upsert = createQdrantWireUpsert({
      host: "unused",
      port: 0,
      timeoutMs: 5_000,
      vectorNames: names,
      httpClient: serverWith(() => calls++),
    });
    const controller = new AbortController();
    controller.abort();
    const failure = upsert.upsert(
      { collectionName: "c", wait: true, points: samplePoints(1, 4) },
      { signal: controller.signal },
    );
    await expect(failure).rejects.toMatchObject({ code: Code.Canceled });
    expect(calls).toBe(0);
  });
});
