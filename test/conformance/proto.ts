import type { PointStruct, Value } from "@qdrant/js-client-grpc";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { PointStructSchema, ValueSchema } from "@qdrant/js-client-grpc";

/** Small builders so the cases read like Qdrant's grpcurl scripts. */
type ValueInit = MessageInitShape<typeof ValueSchema>;
type PointInit = MessageInitShape<typeof PointStructSchema>;

export const str = (value: string): ValueInit => ({ kind: { case: "stringValue", value } });
export const int = (value: bigint | number): ValueInit => ({ kind: { case: "integerValue", value: BigInt(value) } });
export const dbl = (value: number): ValueInit => ({ kind: { case: "doubleValue", value } });
export const bool = (value: boolean): ValueInit => ({ kind: { case: "boolValue", value } });
export const nil = (): ValueInit => ({ kind: { case: "nullValue", value: 0 } });
export const list = (...values: ValueInit[]): ValueInit => ({ kind: { case: "listValue", value: { values } } });
export const obj = (fields: Record<string, ValueInit>): ValueInit => ({
  kind: { case: "structValue", value: { fields } },
});

export const num = (n: number | bigint) => ({ pointIdOptions: { case: "num" as const, value: BigInt(n) } });
export const uuid = (u: string) => ({ pointIdOptions: { case: "uuid" as const, value: u } });

/** A point with the unnamed dense vector in the deprecated flat `data` field, as the grpcurl tests send it. */
export function point(id: number | string, vector: number[], payload: Record<string, ValueInit> = {}): PointInit {
  return {
    id: typeof id === "number" ? num(id) : uuid(id),
    vectors: { vectorsOptions: { case: "vector", value: { data: vector } } },
    payload,
  };
}

/** Reads a payload `Value` back into plain JS (int64 as bigint). */
export function plain(value: Value | undefined): unknown {
  const k = value?.kind;
  switch (k?.case) {
    case "listValue":
      return k.value.values.map(plain);
    case "structValue":
      return Object.fromEntries(Object.entries(k.value.fields).map(([key, v]) => [key, plain(v)]));
    case "nullValue":
      return null;
    case undefined:
      return undefined;
    default:
      return k?.value;
  }
}

export function plainPayload(payload: { [key: string]: Value }): Record<string, unknown> {
  return Object.fromEntries(Object.entries(payload).map(([k, v]) => [k, plain(v)]));
}

export function idOf(p: { id?: PointStruct["id"] }): string {
  const o = p.id?.pointIdOptions;
  return o?.case === "num" ? o.value.toString() : String(o?.value);
}
