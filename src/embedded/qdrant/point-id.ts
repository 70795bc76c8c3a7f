import type { PointId, PointIdInit } from "./proto-types.js";
import { invalidArgument } from "./errors.js";

/**
 * A point id as one string that sorts the way Qdrant orders `ExtendedPointId`
 * (lib/segment/src/types.rs: numeric ids before UUIDs, numbers by value, UUIDs by their bytes):
 * `n<decimal>` or `u<lower-case hyphenated uuid>`.
 */
export type PointKey = string;

const UUID_HEX = /^[0-9a-fA-F]{32}$/;

/** Parses what `Uuid::parse_str` accepts: hyphenated, simple, braced and urn forms. */
export function normalizeUuid(text: string): string | undefined {
  let body = text;
  if (body.startsWith("urn:uuid:")) body = body.slice(9);
  else if (body.startsWith("{") && body.endsWith("}")) body = body.slice(1, -1);
  let hex: string;
  if (body.length === 36) {
    if (body[8] !== "-" || body[13] !== "-" || body[18] !== "-" || body[23] !== "-") return undefined;
    hex = body.slice(0, 8) + body.slice(9, 13) + body.slice(14, 18) + body.slice(19, 23) + body.slice(24);
  } else if (body.length === 32) {
    hex = body;
  } else {
    return undefined;
  }
  if (!UUID_HEX.test(hex)) return undefined;
  hex = hex.toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Conversion and messages as `TryFrom<PointId> for PointIdType` in lib/api/src/grpc/conversions.rs. */
export function pointKeyOf(id: PointId | undefined): PointKey {
  const options = id?.pointIdOptions;
  if (options === undefined || options.case === undefined) {
    throw invalidArgument("No ID options provided");
  }
  if (options.case === "num") return `n${options.value.toString()}`;
  const uuid = normalizeUuid(options.value);
  if (uuid === undefined) throw invalidArgument(`Unable to parse UUID: ${options.value}`);
  return `u${uuid}`;
}

export function pointIdOf(key: PointKey): PointIdInit {
  return key.charCodeAt(0) === 110 /* n */
    ? { pointIdOptions: { case: "num", value: BigInt(key.slice(1)) } }
    : { pointIdOptions: { case: "uuid", value: key.slice(1) } };
}

export function comparePointKeys(a: PointKey, b: PointKey): number {
  const ka = a.charCodeAt(0);
  const kb = b.charCodeAt(0);
  if (ka !== kb) return ka - kb; // "n" < "u"
  if (ka === 110 && a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
