import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GroupIdSchema } from "@qdrant/js-client-grpc";
import type { Collection } from "./collection.js";
import { invalidArgument } from "./errors.js";
import { parseJsonPath, valuesAt } from "./json-path.js";
import type { PayloadValue } from "./payload.js";
import type { Scored } from "./top-k.js";

/**
 * Group-by over ranked hits (lib/collection/src/grouping/group_by.rs): walk hits best first, put each
 * into the group of every keyword or integer value it holds at `groupBy` (a list puts it in several),
 * open new groups only while fewer than `limit` exist, keep at most `groupSize` hits per group.
 * Groups come out in the order of their best hit.
 */
export interface Group {
  id: MessageInitShape<typeof GroupIdSchema>;
  hits: Scored[];
}

export function groupHits(
  c: Collection,
  ranked: Iterable<Scored>,
  groupBy: string,
  limit: number,
  groupSize: number,
): Group[] {
  const path = parseJsonPath(groupBy);
  if (path === null) throw invalidArgument(`Invalid key: ${groupBy}`);
  const groups = new Map<string, Group>();
  for (const hit of ranked) {
    for (const value of groupValues(valuesAt(c.payloadAt(hit.offset), path))) {
      const key = typeof value === "string" ? `s${value}` : `i${value}`;
      let group = groups.get(key);
      if (group === undefined) {
        if (groups.size >= limit) continue;
        group = { id: groupIdOf(value), hits: [] };
        groups.set(key, group);
      }
      if (group.hits.length < groupSize) group.hits.push(hit);
    }
    if (groups.size >= limit && [...groups.values()].every((g) => g.hits.length >= groupSize)) break;
  }
  return [...groups.values()];
}

function groupValues(values: PayloadValue[]): (string | bigint)[] {
  const out = new Set<string | bigint>();
  for (const v of values) {
    for (const x of Array.isArray(v) ? v : [v]) {
      if (typeof x === "string" || typeof x === "bigint") out.add(x);
    }
  }
  return [...out];
}

function groupIdOf(value: string | bigint): MessageInitShape<typeof GroupIdSchema> {
  if (typeof value === "string") return { kind: { case: "stringValue", value } };
  return value >= 0n ? { kind: { case: "unsignedValue", value } } : { kind: { case: "integerValue", value } };
}
