import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  ChangeAliasesSchema,
  CreateFieldIndexCollectionSchema,
  UpsertPointsSchema,
  type PayloadIndexParams,
  type PointStructSchema,
} from "@qdrant/js-client-grpc";
import type { Collection } from "./collection.js";
import type { Mutation } from "./mutation.js";
import { toValueMap } from "./payload.js";
import { pointIdOf } from "./point-id.js";
import { shadowDenseVector, shadowSchemas } from "./wire-vectors.js";
import type { Storage } from "./storage.js";

const POINTS_PER_RECORD = 256;

/**
 * The state as the shortest list of mutations that rebuilds it: each collection's create request,
 * its payload indexes, its points in batches, its next operation id; then the aliases. Replaying
 * these through `Storage.apply` is how a snapshot is loaded, so there is one code path for both.
 */
export function* snapshotMutations(storage: Storage): Generator<Mutation> {
  for (const c of storage.collections.values()) {
    yield { kind: "createCollection", request: c.config };
    for (const index of c.indexes.values()) {
      yield {
        kind: "createFieldIndex",
        request: create(CreateFieldIndexCollectionSchema, {
          collectionName: c.name,
          fieldName: index.field,
          fieldType: index.type - 1,
          fieldIndexParams: index.params as PayloadIndexParams | undefined,
        }),
      };
    }
    yield* pointBatches(c);
    yield { kind: "restoreOperationId", collection: c.name, nextOperationId: c.nextOperationId };
  }
  if (storage.aliases.size > 0) {
    yield {
      kind: "updateAliases",
      request: create(ChangeAliasesSchema, {
        actions: [...storage.aliases].map(([aliasName, collectionName]) => ({
          action: { case: "createAlias" as const, value: { aliasName, collectionName } },
        })),
      }),
    };
  }
}

function* pointBatches(c: Collection): Generator<Mutation> {
  let batch: MessageInitShape<typeof PointStructSchema>[] = [];
  const flush = (): Mutation => {
    // Through the shadow schema, like requests from the wire: dense floats travel as raw bytes.
    const request = create(shadowSchemas().upsertPoints as typeof UpsertPointsSchema, {
      collectionName: c.name,
      points: batch,
    });
    batch = [];
    return { kind: "upsert", request };
  };
  for (const offset of c.offsetsInIdOrder()) {
    type VectorInit = NonNullable<NonNullable<MessageInitShape<typeof PointStructSchema>["vectors"]>["vectorsOptions"]>;
    const vectors: { [name: string]: object } = {};
    for (const [name, v] of c.vectorsAt(offset)) {
      vectors[name] =
        v instanceof Float32Array
          ? { vector: { case: "dense", value: shadowDenseVector(v) } }
          : { vector: { case: "sparse", value: { indices: Array.from(v.indices), values: Array.from(v.values) } } };
    }
    batch.push({
      id: pointIdOf(c.keyAt(offset)),
      payload: toValueMap(c.payloadAt(offset) ?? {}),
      vectors: { vectorsOptions: { case: "vectors", value: { vectors } } as VectorInit },
    });
    if (batch.length === POINTS_PER_RECORD) yield flush();
  }
  if (batch.length > 0) yield flush();
}
