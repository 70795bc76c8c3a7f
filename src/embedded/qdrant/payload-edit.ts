import { invalidArgument } from "./errors.js";
import { parseJsonPath, type PathItem } from "./json-path.js";
import { isPayloadObject, type PayloadObject, type PayloadValue } from "./payload.js";

/**
 * Payload edits as lib/segment/src/json_path/mod.rs `value_set` / `value_remove` and
 * lib/segment/src/types.rs `Payload::merge` do them. Every function returns a new object: stored
 * payloads are never mutated in place (indexes and snapshots may still hold the old one).
 *
 * SetPayload merges key by key (lib/segment/src/common/utils.rs `merge_map`): a `null` value removes
 * that key instead of storing null. Under a `key` path the merge happens in the object found (or
 * created) there: a key on the way that is not an object becomes `{}`; `[n]` descends into an existing
 * element only; `[]` into every element of an array (and replaces anything else with `[]`).
 */
export function mergePayload(target: PayloadObject | undefined, patch: PayloadObject, key?: string): PayloadObject {
  const base = structuredClone(target ?? {});
  if (key === undefined || key === "") {
    mergeMap(base, patch);
    return base;
  }
  const [first, ...rest] = parse(key);
  if (!("key" in first)) throw invalidArgument(`Invalid key: ${key}`);
  setInMap(base, first.key, rest, patch);
  return base;
}

function mergeMap(dest: PayloadObject, src: PayloadObject): void {
  for (const [k, v] of Object.entries(src)) {
    if (v === null) delete dest[k];
    else dest[k] = structuredClone(v);
  }
}

function setInMap(map: PayloadObject, key: string, rest: PathItem[], patch: PayloadObject): void {
  map[key] = setValue(Object.hasOwn(map, key) ? map[key] : null, rest, patch);
}

/** `value_set`: returns the value that replaces `dest`. */
function setValue(dest: PayloadValue, path: PathItem[], patch: PayloadObject): PayloadValue {
  if (path.length === 0) {
    const obj = isPayloadObject(dest) ? dest : {};
    mergeMap(obj, patch);
    return obj;
  }
  const [head, ...rest] = path;
  if ("key" in head) {
    const obj = isPayloadObject(dest) ? dest : {};
    setInMap(obj, head.key, rest, patch);
    return obj;
  }
  if ("index" in head) {
    const array = Array.isArray(dest) ? dest : [];
    if (head.index < array.length) array[head.index] = setValue(array[head.index], rest, patch);
    return array;
  }
  if (!Array.isArray(dest)) return [];
  for (let i = 0; i < dest.length; i++) dest[i] = setValue(dest[i], rest, patch);
  return dest;
}

export function deletePayloadKeys(target: PayloadObject | undefined, keys: readonly string[]): PayloadObject {
  const base = structuredClone(target ?? {});
  for (const key of keys) removeAt(base, parse(key), 0);
  return base;
}

function removeAt(node: PayloadValue, path: PathItem[], at: number): void {
  const item = path[at];
  const last = at === path.length - 1;
  if ("key" in item) {
    if (!isPayloadObject(node) || !Object.hasOwn(node, item.key)) return;
    if (last) delete node[item.key];
    else removeAt(node[item.key], path, at + 1);
    return;
  }
  if (!Array.isArray(node)) return;
  if ("index" in item) {
    if (item.index >= node.length) return;
    if (last) node.splice(item.index, 1);
    else removeAt(node[item.index], path, at + 1);
    return;
  }
  if (last) node.length = 0;
  else for (const element of node) removeAt(element, path, at + 1);
}

function parse(key: string): PathItem[] {
  const path = parseJsonPath(key);
  if (path === null) throw invalidArgument(`Invalid key: ${key}`);
  return path;
}
