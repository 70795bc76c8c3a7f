import { clone, createFileRegistry, type DescFile, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, type FileDescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { file_qdrant } from "@qdrant/js-client-grpc";

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
  const real = new Map<string, DescFile>();
  const collect = (file: DescFile): void => {
    if (!real.has(file.proto.name)) {
      real.set(file.proto.name, file);
      file.dependencies.forEach(collect);
    }
  };
  collect(file_qdrant);
  const points = cloneFile(real, "points.proto");
  const upsertMessage = points.messageType.find((m) => m.name === "UpsertPoints");
  const field = upsertMessage?.field.find((f) => f.number === UPSERT_POINTS_FIELD && f.name === "points");
  if (upsertMessage === undefined || field === undefined || field.label !== FieldDescriptorProto_Label.REPEATED) {
    throw new Error("@qdrant/js-client-grpc: qdrant.UpsertPoints no longer has `repeated PointStruct points = 3`");
  }
  upsertMessage.field = upsertMessage.field.filter((f) => f !== field);
  const service = cloneFile(real, "points_service.proto");
  const shadows = new Map([points, service].map((file) => [file.name, file]));
  const registry = createFileRegistry(service, (name) => shadows.get(name) ?? real.get(name));
  const upsertPoints = registry.getMessage("qdrant.UpsertPoints");
  const upsert = registry.getService("qdrant.Points")?.methods.find((m) => m.name === "Upsert");
  if (upsertPoints === undefined || upsert === undefined) {
    throw new Error("@qdrant/js-client-grpc: qdrant.Points/Upsert is missing from the client's descriptors");
  }
  built = { upsertPoints, upsert };
  return built;
}

function cloneFile(files: ReadonlyMap<string, DescFile>, name: string): FileDescriptorProto {
  const file = files.get(name);
  if (file === undefined) {
    throw new Error(`@qdrant/js-client-grpc no longer ships ${name}`);
  }
  return clone(FileDescriptorProtoSchema, file.proto);
}
