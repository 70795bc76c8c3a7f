import { fromBinary, toBinary, type DescMessage } from "@bufbuild/protobuf";
import {
  ChangeAliasesSchema,
  ClearPayloadPointsSchema,
  CreateCollectionSchema,
  CreateFieldIndexCollectionSchema,
  DeleteCollectionSchema,
  DeleteFieldIndexCollectionSchema,
  DeletePayloadPointsSchema,
  DeletePointsSchema,
  DeletePointVectorsSchema,
  UpdatePointVectorsSchema,
  SetPayloadPointsSchema,
} from "@qdrant/js-client-grpc";
import type { Mutation, MutationKind } from "./mutation.js";
import { floatsToWireForm, shadowSchemas } from "./wire-vectors.js";

/**
 * A mutation as bytes: one kind byte, then the request message in protobuf binary (the bytes the client
 * sent: an upsert's points as received, anything else re-encoded). Kind numbers are part of the on-disk
 * format: never renumber.
 */
const KINDS: { kind: Exclude<MutationKind, "restoreOperationId">; code: number; schema: DescMessage }[] = [
  { kind: "createCollection", code: 1, schema: CreateCollectionSchema },
  { kind: "deleteCollection", code: 2, schema: DeleteCollectionSchema },
  { kind: "updateAliases", code: 3, schema: ChangeAliasesSchema },
  { kind: "upsert", code: 4, schema: shadowSchemas().upsertPoints },
  { kind: "deletePoints", code: 5, schema: DeletePointsSchema },
  { kind: "setPayload", code: 6, schema: SetPayloadPointsSchema },
  { kind: "overwritePayload", code: 7, schema: SetPayloadPointsSchema },
  { kind: "deletePayload", code: 8, schema: DeletePayloadPointsSchema },
  { kind: "clearPayload", code: 9, schema: ClearPayloadPointsSchema },
  { kind: "createFieldIndex", code: 10, schema: CreateFieldIndexCollectionSchema },
  { kind: "deleteFieldIndex", code: 11, schema: DeleteFieldIndexCollectionSchema },
  { kind: "updateBatch", code: 12, schema: shadowSchemas().updateBatchPoints },
  // Vector updates decode with the real schema (floats as JS numbers): small, rare requests.
  { kind: "updateVectors", code: 14, schema: UpdatePointVectorsSchema },
  { kind: "deleteVectors", code: 15, schema: DeletePointVectorsSchema },
];
const RESTORE_OPERATION_ID = 13;

const byKind = new Map(KINDS.map((k) => [k.kind, k]));
const byCode = new Map(KINDS.map((k) => [k.code, k]));

export function encodeMutation(m: Mutation): Uint8Array {
  const parts = encodeMutationParts(m);
  if (parts.length === 1) return parts[0];
  return Buffer.concat(parts);
}

/** The record's bytes in parts, for a writev: an upsert as received is not copied into one buffer. */
export function encodeMutationParts(m: Mutation): Uint8Array[] {
  if (m.kind === "restoreOperationId") {
    const name = Buffer.from(m.collection, "utf8");
    const out = Buffer.alloc(1 + 8 + name.length);
    out[0] = RESTORE_OPERATION_ID;
    out.writeBigUInt64LE(m.nextOperationId, 1);
    name.copy(out, 9);
    return [out];
  }
  const k = byKind.get(m.kind)!;
  if (m.kind === "upsert" && m.wire !== undefined) return [Uint8Array.of(k.code), ...m.wire];
  if (m.kind === "upsert") floatsToWireForm(m.request.points);
  if (m.kind === "updateBatch") {
    for (const op of m.request.operations) {
      if (op.operation.case === "upsert" || op.operation.case === "updateVectors")
        floatsToWireForm(op.operation.value.points);
    }
  }
  const body = toBinary(k.schema, m.request as never);
  const out = new Uint8Array(1 + body.length);
  out[0] = k.code;
  out.set(body, 1);
  return [out];
}

export function decodeMutation(bytes: Uint8Array): Mutation {
  const code = bytes[0];
  if (code === RESTORE_OPERATION_ID) {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return {
      kind: "restoreOperationId",
      nextOperationId: b.readBigUInt64LE(1),
      collection: b.subarray(9).toString("utf8"),
    };
  }
  const k = byCode.get(code);
  if (k === undefined) throw new Error(`unknown mutation kind ${code} in the data directory`);
  return { kind: k.kind, request: fromBinary(k.schema, bytes.subarray(1)) } as Mutation;
}
