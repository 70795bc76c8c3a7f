import { invalidArgument } from "./errors.js";
import { parseJsonPath, type PathItem } from "./json-path.js";
import { isPayloadObject, type PayloadObject, type PayloadValue } from "./payload.js";

/**
 * Payload edits as lib/segment/src/json_path/mod.rs `value_set` / `value_remove` and
 * lib/segment/src/types.rs `Payload::merge` do them. Every function returns a new object: stored
 * payloads are never mutated in place (indexes and snapshots may still hold the old one).
 */
export function mergePayload(target: PayloadObject | undefined, patch: PayloadObject, key?: string): PayloadObject {
  const base = structuredClone(target ?? {});
  if (key === undefined || key === "") {
    Object.assign(base, structuredClone(patch));
    return base;
  }
  const path = parse(key);
  setAt(base, path, 0, patch);
  return base;
}

function setAt(node: PayloadObject | PayloadValue[], path: PathItem[], at: number, patch: PayloadObject): void {
  const item = path[at];
  const last = at === path.length - 1;
  if ("key" in item) {
    if (!isPayloadObject(node as PayloadValue)) return;
    const obj = node as PayloadObject;
    const next = path[at + 1];
    if (last) {
      const existing = obj[item.key];
      obj[item.key] = isPayloadObject(existing) ? { ...existing, ...structuredClone(patch) } : structuredClone(patch);
      return;
    }
    if (next !== undefined && !("key" in next)) {
      const child = obj[item.key];
      if (Array.isArray(child)) setAt(child, path, at + 1, patch);
      return;
    }
    if (!isPayloadObject(obj[item.key])) obj[item.key] = {};
    setAt(obj[item.key] as PayloadObject, path, at + 1, patch);
    return;
  }
  if (!Array.isArray(node)) return;
  const targets = "index" in item ? (item.index < node.length ? [item.index] : []) : node.map((_, i) => i);
  for (const i of targets) {
    if (last) {
      const existing = node[i];
      node[i] = isPayloadObject(existing) ? { ...existing, ...structuredClone(patch) } : structuredClone(patch);
    } else if (isPayloadObject(node[i]) || Array.isArray(node[i])) {
      setAt(node[i] as PayloadObject, path, at + 1, patch);
    }
  }
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
