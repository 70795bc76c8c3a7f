import { isPayloadObject, type PayloadObject, type PayloadValue } from "./payload.js";

/**
 * Payload keys such as `a.b`, `a[].b`, `a[0]` and `"dotted.key".c`, read the way Qdrant's `value_get`
 * does (lib/segment/src/json_path/mod.rs): a key only descends into an object, `[]` fans out over an
 * array's elements, and an array reached without `[]` is returned whole (not flattened).
 */
export type PathItem = { key: string } | { index: number } | { wildcard: true };

const cache = new Map<string, PathItem[] | null>();

export function parseJsonPath(path: string): PathItem[] | null {
  const hit = cache.get(path);
  if (hit !== undefined) return hit;
  const parsed = parse(path);
  if (cache.size > 10_000) cache.clear();
  cache.set(path, parsed);
  return parsed;
}

function parse(path: string): PathItem[] | null {
  const items: PathItem[] = [];
  let i = 0;
  while (i < path.length) {
    if (items.length > 0) {
      if (path[i] !== ".") return null;
      i++;
    }
    let key: string;
    if (path[i] === '"') {
      const end = path.indexOf('"', i + 1);
      if (end < 0) return null;
      key = path.slice(i + 1, end);
      i = end + 1;
    } else {
      const start = i;
      while (i < path.length && path[i] !== "." && path[i] !== "[") i++;
      key = path.slice(start, i);
      if (key.length === 0) return null;
    }
    items.push({ key });
    while (path[i] === "[") {
      const end = path.indexOf("]", i);
      if (end < 0) return null;
      const inner = path.slice(i + 1, end);
      if (inner === "") items.push({ wildcard: true });
      else if (/^\d+$/.test(inner)) items.push({ index: Number(inner) });
      else return null;
      i = end + 1;
    }
  }
  return items.length > 0 ? items : null;
}

export function valuesAt(payload: PayloadObject | undefined, path: PathItem[]): PayloadValue[] {
  const out: PayloadValue[] = [];
  if (payload !== undefined) collect(payload, path, 0, out);
  return out;
}

function collect(value: PayloadValue | undefined, path: PathItem[], at: number, out: PayloadValue[]): void {
  if (value === undefined) return;
  if (at === path.length) {
    out.push(value);
    return;
  }
  const item = path[at];
  if ("key" in item) {
    if (isPayloadObject(value) && Object.hasOwn(value, item.key)) collect(value[item.key], path, at + 1, out);
  } else if (Array.isArray(value)) {
    if ("index" in item) collect(value[item.index], path, at + 1, out);
    else for (const element of value) collect(element, path, at + 1, out);
  }
}
