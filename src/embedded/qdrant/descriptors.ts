import type { DescService } from "@bufbuild/protobuf";
import { Qdrant, Snapshots, file_qdrant } from "@qdrant/js-client-grpc";

/**
 * The service descriptors the real client is generated from. The package's `exports` map blocks deep
 * imports, so `Collections` and `Points` are found through the dependencies of `qdrant.proto`:
 * serving exactly these descriptors makes the server wire-compatible by construction.
 */
export interface QdrantDescriptors {
  readonly qdrant: DescService;
  readonly collections: DescService;
  readonly points: DescService;
  /** Served only to answer UNIMPLEMENTED with the method's name. */
  readonly snapshots: DescService;
}

function serviceOf(fileName: string, serviceName: string): DescService {
  const file = file_qdrant.dependencies.find((f) => f.name === fileName);
  const service = file?.services.find((s) => s.name === serviceName);
  if (service === undefined) {
    throw new Error(`@qdrant/js-client-grpc no longer ships ${fileName}.proto with service ${serviceName}`);
  }
  return service;
}

export function loadQdrantDescriptors(): QdrantDescriptors {
  return {
    qdrant: Qdrant,
    collections: serviceOf("collections_service", "Collections"),
    points: serviceOf("points_service", "Points"),
    snapshots: Snapshots,
  };
}
