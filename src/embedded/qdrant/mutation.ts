import type {
  ChangeAliases,
  ClearPayloadPoints,
  CreateCollection,
  CreateFieldIndexCollection,
  DeleteCollection,
  DeleteFieldIndexCollection,
  DeletePayloadPoints,
  DeletePoints,
  DeletePointVectors,
  UpdatePointVectors,
  SetPayloadPoints,
  UpdateBatchPoints,
  UpsertPoints,
} from "@qdrant/js-client-grpc";

/**
 * Every request that changes state, kept as the protobuf message the client sent. The write-ahead log
 * stores exactly these (kind byte + message bytes), so recovery replays the same code path.
 */
export type Mutation =
  | { kind: "createCollection"; request: CreateCollection }
  | { kind: "deleteCollection"; request: DeleteCollection }
  | { kind: "updateAliases"; request: ChangeAliases }
  | {
      kind: "upsert";
      request: UpsertPoints;
      /** The request's bytes as received (upsert-request.ts), journalled instead of re-encoding it. */
      wire?: Uint8Array[];
    }
  | { kind: "deletePoints"; request: DeletePoints }
  | { kind: "setPayload"; request: SetPayloadPoints }
  | { kind: "overwritePayload"; request: SetPayloadPoints }
  | { kind: "deletePayload"; request: DeletePayloadPoints }
  | { kind: "clearPayload"; request: ClearPayloadPoints }
  | { kind: "createFieldIndex"; request: CreateFieldIndexCollection }
  | { kind: "deleteFieldIndex"; request: DeleteFieldIndexCollection }
  | { kind: "updateBatch"; request: UpdateBatchPoints }
  | { kind: "updateVectors"; request: UpdatePointVectors }
  | { kind: "deleteVectors"; request: DeletePointVectors }
  | { kind: "restoreOperationId"; collection: string; nextOperationId: bigint };

export type MutationKind = Mutation["kind"];

/** What a mutation answers: a boolean for collection operations, operation ids for point updates. */
export type MutationResult = { kind: "bool"; value: boolean } | { kind: "operations"; ids: bigint[] };
