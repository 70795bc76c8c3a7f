import { clone, createFileRegistry, type DescFile, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, type FileDescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { file_qdrant } from "@qdrant/js-client-grpc";

/**
 * A shadow of Qdrant's `points.proto` and `points_service.proto` (same package `qdrant`, names and
 * field numbers) in which `DenseVector.data` (field 1, `repeated float`) is `bytes`. A packed
 * `repeated float` and a `bytes` field are the same bytes on the wire (tag 0x0a, length, the
 * little-endian floats), so an `UpsertPoints` encoded with the shadow and holding a vector's bytes
 * reaches Qdrant byte for byte as the real message would, without a JS number per float.
 *
 * Only for encoding: a `bytes` field would misread an unpacked or split-packed response.
 */
export interface ShadowPoints {
  readonly upsertPoints: DescMessage;
  readonly upsert: DescMethod;
}

const DENSE_DATA_FIELD = 1;

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
  const dense = points.messageType.find((m) => m.name === "DenseVector");
  const data = dense?.field.find((f) => f.number === DENSE_DATA_FIELD && f.name === "data");
  if (data === undefined || data.type !== FieldDescriptorProto_Type.FLOAT || data.label !== FieldDescriptorProto_Label.REPEATED) {
    throw new Error("@qdrant/js-client-grpc: qdrant.DenseVector no longer has `repeated float data = 1`");
  }
  data.type = FieldDescriptorProto_Type.BYTES;
  data.label = FieldDescriptorProto_Label.OPTIONAL;
  data.options = undefined;
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
