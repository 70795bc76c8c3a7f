import { create, type DescService, toBinary } from "@bufbuild/protobuf";
import { type DescFile } from "@bufbuild/protobuf";
import { file_qdrant, UpsertPointsSchema } from "@qdrant/js-client-grpc";
import { toPointStruct } from "../../../../src/stores/qdrant-vector-store.js";
import type { VectorPoint } from "../../../../src/stores/vector-store.js";

/** Points covering what toPointStruct writes: UUIDs, null and set filters, with and without sparse. */
export function samplePoints(count: number, dimensions: number): VectorPoint[] {
  return Array.from({ length: count }, (_, i) => {
    const vector = new Float32Array(dimensions);
    for (let d = 0; d < dimensions; d++) {
      vector[d] = Math.sin(i * 131 + d * 0.37) * (d % 7 === 0 ? 1e-20 : 1);
    }
    const point: VectorPoint = {
      id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      vector,
      payload: {
        catalog_id: "0b7e5f0a-6d3e-4c1a-8a57-3e2f9c1d4e5f",
        kind: i % 2 === 0 ? "table" : "column",
        schema: i % 3 === 0 ? null : "public",
        table: i % 3 === 0 ? null : `t${i}`,
        status: "pending",
        content_hash: "ab".repeat(32),
        model: "precomputed",
      },
    };
    if (i % 2 === 1) {
      point.sparse = { indices: Uint32Array.from([3, 17, 4000 + i]), values: Float32Array.from([0.5, 1.25, 2]) };
    }
    return point;
  });
}

/** What the real client would put on the wire for these points: toBinary of the real message. */
export function realUpsertBytes(collectionName: string, points: readonly VectorPoint[], wait = true): Uint8Array {
  const message = create(UpsertPointsSchema, {
    collectionName,
    wait,
    points: points.map((p) => toPointStruct(p)),
  });
  return toBinary(UpsertPointsSchema, message);
}

/** Qdrant's real `Points` service, from the client package's public descriptors. */
export function realPointsService(): DescService {
  const seen = new Set<DescFile>();
  const visit = (file: DescFile): DescService | undefined => {
    if (seen.has(file)) return undefined;
    seen.add(file);
    return (
      file.services.find((s) => s.typeName === "qdrant.Points") ??
      file.dependencies.map(visit).find((s) => s !== undefined)
    );
  };
  const points = visit(file_qdrant);
  if (points === undefined) throw new Error("qdrant.Points not found");
  return points;
}
