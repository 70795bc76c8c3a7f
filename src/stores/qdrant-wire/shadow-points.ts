import type { DescMessage, DescMethod } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label } from "@bufbuild/protobuf/wkt";
import { file_qdrant } from "@qdrant/js-client-grpc";
import { shadowRegistry } from "../../wire/shadow-registry.js";

/**
 * A shadow of Qdrant's `points.proto` and `points_service.proto` (same package `qdrant`, names and
 * field numbers) in which `UpsertPoints` does not declare `points` (field 3). A shadow message then
 * carries its points as one unknown field 3, the bytes `encodePointsField` wrote (dense vectors copied
 * once from their float32 bytes), and protobuf-es writes them back verbatim after the declared fields:
 * the same bytes Qdrant would get from `toBinary(UpsertPointsSchema, real message)`.
 */
export interface ShadowPoints {
  readonly upsertPoints: DescMessage;
  readonly upsert: DescMethod;
}

/** UpsertPoints.points */
export const UPSERT_POINTS_FIELD = 3;

let built: ShadowPoints | undefined; // immutable descriptors, built once like generated ones

export function shadowPoints(): ShadowPoints {
  if (built !== undefined) {
    return built;
  }
  const registry = shadowRegistry(
    file_qdrant,
    (file) => file.proto.name === "points.proto" || file.proto.name === "points_service.proto",
    (proto) => {
      if (proto.name !== "points.proto") {
        return;
      }
      const upsertMessage = proto.messageType.find((m) => m.name === "UpsertPoints");
      const field = upsertMessage?.field.find((f) => f.number === UPSERT_POINTS_FIELD && f.name === "points");
      if (upsertMessage === undefined || field === undefined || field.label !== FieldDescriptorProto_Label.REPEATED) {
        throw new Error("@qdrant/js-client-grpc: qdrant.UpsertPoints no longer has `repeated PointStruct points = 3`");
      }
      upsertMessage.field = upsertMessage.field.filter((f) => f !== field);
    },
  );
  const upsertPoints = registry.getMessage("qdrant.UpsertPoints");
  const upsert = registry.getService("qdrant.Points")?.methods.find((m) => m.name === "Upsert");
  if (upsertPoints === undefined || upsert === undefined) {
    throw new Error("@qdrant/js-client-grpc: qdrant.Points/Upsert is missing from the client's descriptors");
  }
  built = { upsertPoints, upsert };
  return built;
}
