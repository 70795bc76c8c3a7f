import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Value, ValueSchema } from "@qdrant/js-client-grpc";

/**
 * Payload values kept in JS form. `integer_value` (int64) stays a bigint and `double_value` a number,
 * so both come back on the wire exactly as they arrived (json_with_int.proto).
 */
export type PayloadValue = null | boolean | number | bigint | string | PayloadValue[] | PayloadObject;
export interface PayloadObject {
  [key: string]: PayloadValue;
}

export function fromValue(value: Value): PayloadValue {
  const kind = value.kind;
  switch (kind.case) {
    case "nullValue":
    case undefined:
      return null;
    case "doubleValue":
    case "integerValue":
    case "stringValue":
    case "boolValue":
      return kind.value;
    case "structValue":
      return fromValueMap(kind.value.fields);
    case "listValue":
      return kind.value.values.map(fromValue);
  }
}

export function fromValueMap(map: { [key: string]: Value }): PayloadObject {
  const out: PayloadObject = {};
  for (const key of Object.keys(map)) out[key] = fromValue(map[key]);
  return out;
}

type ValueInit = MessageInitShape<typeof ValueSchema>;

export function toValue(value: PayloadValue): ValueInit {
  if (value === null) return { kind: { case: "nullValue", value: 0 } };
  switch (typeof value) {
    case "boolean":
      return { kind: { case: "boolValue", value } };
    case "number":
      return { kind: { case: "doubleValue", value } };
    case "bigint":
      return { kind: { case: "integerValue", value } };
    case "string":
      return { kind: { case: "stringValue", value } };
  }
  if (Array.isArray(value)) return { kind: { case: "listValue", value: { values: value.map(toValue) } } };
  return { kind: { case: "structValue", value: { fields: toValueMap(value) } } };
}

export function toValueMap(payload: PayloadObject): { [key: string]: ValueInit } {
  const out: { [key: string]: ValueInit } = {};
  for (const key of Object.keys(payload)) out[key] = toValue(payload[key]);
  return out;
}

export function isPayloadObject(value: PayloadValue | undefined): value is PayloadObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
