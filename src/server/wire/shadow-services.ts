import type { DescService } from "@bufbuild/protobuf";
import type { FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { file_dq_embeddings_v1_embedding_service } from "../../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { file_dq_embeddings_v1_retrieval_service } from "../../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { shadowRegistry } from "../../wire/shadow-registry.js";

/**
 * Shadow copies of our services for the router's decoder only (reflection keeps serving the real
 * files). They are the real descriptors with one change: the float fields that carry vectors,
 * `EmbeddingInput.vector` (8) and `QueryVector.values` (1), move to field number JSON_ONLY_FIELD.
 *
 * - Binary requests (gRPC, gRPC-Web, Connect with proto) then carry the vector under a number the
 *   shadow does not declare, so protobuf-es skips it as an unknown field: the raw bytes with their
 *   wire type, sliced from the request without reading a single float (src/wire/float-field.ts reads them).
 * - JSON requests (Connect with JSON) still find the field by its JSON name, so `"vector": [..]`
 *   decodes as before into `number[]`.
 *
 * No client sends field JSON_ONLY_FIELD (it is not in our proto); a peer that did would have it read
 * as the vector's JSON-path values, which the same validation then checks.
 */
export const JSON_ONLY_FIELD = 536_870_911; // the largest legal field number

/** The fields moved, by fully-qualified message name: message -> real field number. */
export const VECTOR_FIELDS = {
  "dq.embeddings.v1.EmbeddingInput": { name: "vector", no: 8 },
  "dq.embeddings.v1.QueryVector": { name: "values", no: 1 },
} as const;

export type ShadowServices = ReadonlyMap<string, DescService>;

let built: ShadowServices | undefined; // immutable descriptors, built once like generated ones

/** The shadow services, keyed by fully-qualified service name. */
export function shadowServices(): ShadowServices {
  if (built !== undefined) {
    return built;
  }
  // Every file of our package is shadowed (so references resolve to the shadow messages); the
  // well-known types are shared with the real registry.
  const services = new Map<string, DescService>();
  for (const root of [file_dq_embeddings_v1_embedding_service, file_dq_embeddings_v1_retrieval_service]) {
    const registry = shadowRegistry(root, (file) => file.proto.package === "dq.embeddings.v1", moveVectorFields);
    for (const type of registry) {
      if (type.kind === "service") {
        services.set(type.typeName, type);
      }
    }
  }
  built = services;
  return built;
}

function moveVectorFields(proto: FileDescriptorProto): void {
  for (const message of proto.messageType) {
    const moved = VECTOR_FIELDS[`${proto.package}.${message.name}` as keyof typeof VECTOR_FIELDS];
    const field =
      moved === undefined ? undefined : message.field.find((f) => f.number === moved.no && f.name === moved.name);
    if (moved !== undefined && field === undefined) {
      throw new Error(
        `${proto.package}.${message.name} has no field ${moved.name} = ${moved.no}: update VECTOR_FIELDS`,
      );
    }
    if (field !== undefined) {
      field.number = JSON_ONLY_FIELD;
    }
  }
}
