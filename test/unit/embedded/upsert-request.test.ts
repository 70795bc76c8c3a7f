import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type UpsertPoints, UpsertPointsSchema } from "@qdrant/js-client-grpc";
import { describe, expect, it } from "vitest";
import { receivedUpsert } from "../../../src/embedded/qdrant/upsert-request.js";
import { denseData, shadowSchemas } from "../../../src/embedded/qdrant/wire-vectors.js";

function request(count: number): UpsertPoints {
  return create(UpsertPointsSchema, {
    collectionName: "docs",
    wait: true,
    points: Array.from({ length: count }, (_, i) => ({
      id: { pointIdOptions: { case: "num" as const, value: BigInt(i + 1) } },
      payload: { kind: { kind: { case: "stringValue" as const, value: i % 2 ? "table" : "column" } } },
      vectors: { vectorsOptions: { case: "vector" as const, value: { data: [i, 0.5, -1.25, 3] } } },
    })),
  });
}

describe("receivedUpsert", () => {
  it("journals the points as received: the record decodes to the request the client sent", () => {
    const bytes = toBinary(UpsertPointsSchema, request(5));
    const raw = fromBinary(shadowSchemas().upsertPointsRaw, bytes) as UpsertPoints;
    const { request: decoded, wire } = receivedUpsert(raw);
    // One slice of the request for all five points, after the re-encoded head.
    expect(wire).toHaveLength(2);
    expect(wire[1].buffer).toBe(bytes.buffer);
    const record = fromBinary(UpsertPointsSchema, Buffer.concat(wire));
    expect(record).toEqual(fromBinary(UpsertPointsSchema, bytes));
    expect(Buffer.concat(wire).equals(Buffer.from(bytes))).toBe(true);
    // The decoded points carry their floats as wire bytes, read by denseData.
    expect(decoded.collectionName).toBe("docs");
    expect(decoded.points.map((p) => p.id?.pointIdOptions.value)).toEqual([1n, 2n, 3n, 4n, 5n]);
    const first = decoded.points[3].vectors?.vectorsOptions;
    expect(first?.case).toBe("vector");
    expect(Array.from(denseData(first?.value as never))).toEqual([3, 0.5, -1.25, 3]);
  });

  it("writes each point's tag when points are not one run of the request", () => {
    // Points interleaved with another (unknown) field are legal protobuf.
    const head = toBinary(UpsertPointsSchema, create(UpsertPointsSchema, { collectionName: "docs" }));
    const single = (i: number) => {
      const one = request(2);
      one.collectionName = "";
      one.points = [one.points[i]];
      return toBinary(UpsertPointsSchema, one);
    };
    const split = Buffer.concat([head, single(0), Uint8Array.of(15 << 3, 1), single(1)]);
    const raw = fromBinary(shadowSchemas().upsertPointsRaw, split) as UpsertPoints;
    const { request: decoded, wire } = receivedUpsert(raw);
    expect(decoded.points).toHaveLength(2);
    expect(wire.length).toBeGreaterThan(2);
    const record = fromBinary(UpsertPointsSchema, Buffer.concat(wire));
    expect(record.points).toEqual(request(2).points);
  });
});
