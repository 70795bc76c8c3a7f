import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { UpsertPointsSchema } from "@qdrant/js-client-grpc";
import { describe, expect, it } from "vitest";
import { denseData, shadowDenseVector, shadowSchemas } from "../../../src/embedded/qdrant/wire-vectors.js";

const floats = [0.5, -1.25, 3, 1e-7, 42];

/** UpsertPoints{collection_name, points[{id:1, vectors{vector: <vectorBytes>}}]} built by hand. */
function upsertWithVector(writeVector: (w: BinaryWriter) => void): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).string("c");
  w.tag(3, WireType.LengthDelimited).fork();
  w.tag(1, WireType.LengthDelimited).fork().tag(1, WireType.Varint).uint64(1n).join();
  w.tag(4, WireType.LengthDelimited).fork();
  w.tag(1, WireType.LengthDelimited).fork();
  writeVector(w);
  w.join().join().join();
  return w.finish();
}

function decodedVector(bytes: Uint8Array): Float32Array {
  const msg = fromBinary(shadowSchemas().upsertPoints, bytes) as unknown as {
    points: { vectors: { vectorsOptions: { value: Parameters<typeof denseData>[0] } } }[];
  };
  return denseData(msg.points[0].vectors.vectorsOptions.value);
}

describe("dense vectors read from wire bytes", () => {
  it("reads the packed encoding the real schema writes", () => {
    const real = create(UpsertPointsSchema, {
      collectionName: "c",
      points: [
        {
          id: { pointIdOptions: { case: "num", value: 1n } },
          vectors: { vectorsOptions: { case: "vector", value: { data: floats } } },
        },
      ],
    });
    expect(Array.from(decodedVector(toBinary(UpsertPointsSchema, real)))).toEqual(floats.map(Math.fround));
  });

  it("reads unpacked fixed32 values and packed data split over several chunks", () => {
    const unpacked = upsertWithVector((w) => floats.forEach((f) => w.tag(1, WireType.Bit32).float(f)));
    expect(Array.from(decodedVector(unpacked))).toEqual(floats.map(Math.fround));
    const split = upsertWithVector((w) => {
      w.tag(1, WireType.LengthDelimited).fork().float(floats[0]).float(floats[1]).join();
      w.tag(1, WireType.LengthDelimited).fork().float(floats[2]).float(floats[3]).float(floats[4]).join();
    });
    expect(Array.from(decodedVector(split))).toEqual(floats.map(Math.fround));
  });

  it("rejects a packed chunk that is not a whole number of floats", () => {
    const bad = upsertWithVector((w) => w.tag(1, WireType.LengthDelimited).bytes(new Uint8Array([1, 2, 3])));
    expect(() => decodedVector(bad)).toThrow(/not a whole number of 4-byte floats/);
  });

  it("re-encodes through the shadow schema byte for byte like the real schema", () => {
    const v = Float32Array.from(floats);
    const real = create(UpsertPointsSchema, {
      collectionName: "c",
      points: [
        {
          id: { pointIdOptions: { case: "num", value: 1n } },
          vectors: {
            vectorsOptions: {
              case: "vectors",
              value: { vectors: { "": { vector: { case: "dense", value: { data: Array.from(v) } } } } },
            },
          },
        },
      ],
    });
    const shadow = create(shadowSchemas().upsertPoints as typeof UpsertPointsSchema, {
      collectionName: "c",
      points: [
        {
          id: { pointIdOptions: { case: "num", value: 1n } },
          vectors: {
            vectorsOptions: {
              case: "vectors",
              value: { vectors: { "": { vector: { case: "dense", value: shadowDenseVector(v) as never } } } },
            },
          },
        },
      ],
    });
    expect(toBinary(shadowSchemas().upsertPoints, shadow)).toEqual(toBinary(UpsertPointsSchema, real));
  });
});
