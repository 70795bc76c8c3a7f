/**
 * One validation layer for every RPC: rules that hold for any field of any request, checked on the
 * decoded message before a handler runs, so every RPC refuses the same bad input the same way
 * (INVALID_ARGUMENT naming the field path, nothing written):
 *
 * - no NUL (U+0000) in any string or metadata key (Postgres text and jsonb cannot hold it);
 * - no lone UTF-16 surrogate in any string (it has no UTF-8 form; JSON callers can send one);
 * - metadata (google.protobuf.Struct, a JSON object once decoded) at most `MAX_STRUCT_DEPTH` deep and
 *   `MAX_STRUCT_ENTRIES` entries, every number finite, and no `__proto__` key at any depth (JavaScript
 *   layers between here and the stores treat that name as the object's prototype, so it would be
 *   dropped or swallowed on the way to one store and not the other: refused explicitly instead).
 *
 * Per-field rules (required fields, byte limits, UUIDs, dimensions) stay with each handler's request
 * translation (core/validate.ts); these are the rules no field may break. The walk is linear in the
 * message and uses native string scans.
 */
import type { Interceptor } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";

export const MAX_STRUCT_DEPTH = 32;
export const MAX_STRUCT_ENTRIES = 10_000;

export class RequestRuleError extends ConnectError {
  readonly field: string;

  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`, Code.InvalidArgument);
    this.field = field;
  }
}

/** Throws RequestRuleError for the first rule `message` breaks. */
export function checkRequest(message: object, prefix = ""): void {
  walkMessage(message as Record<string, unknown>, prefix);
}

function walkMessage(message: Record<string, unknown>, path: string): void {
  for (const name in message) {
    if (name === "$typeName" || name === "$unknown") continue;
    const value = message[name];
    // Strings (most fields) are checked without building their path; it is spelled out on failure.
    if (typeof value === "string") {
      if (!isStorable(value)) checkString(value, join(path, snake(name)));
    } else if (value !== null && typeof value === "object" && !(value instanceof Uint8Array)) {
      walkValue(value, join(path, snake(name)));
    }
  }
}

function walkValue(value: unknown, path: string): void {
  if (typeof value === "string") {
    checkString(value, path);
  } else if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const item: unknown = value[index];
      if (typeof item === "string") {
        if (!isStorable(item)) checkString(item, `${path}[${index}]`);
      } else if (item !== null && typeof item === "object") {
        walkValue(item, `${path}[${index}]`);
      }
    }
  } else if (value instanceof Uint8Array || value === null || typeof value !== "object") {
    // bytes (vectors read from the wire), numbers, booleans, bigints, enums
  } else if ("$typeName" in value) {
    walkMessage(value, path);
  } else if ("case" in value && Object.keys(value).every((key) => key === "case" || key === "value")) {
    // A oneof: its value sits at the field's own path, named by the case.
    const oneof = value as { case: string | undefined; value?: unknown };
    if (oneof.case !== undefined) walkValue(oneof.value, path.replace(/[^.]*$/, snake(oneof.case)));
  } else {
    // A google.protobuf.Struct, decoded to a JSON object.
    checkStruct(value as Record<string, unknown>, path, { entries: 0 }, 1);
  }
}

/** True when `value` breaks none of checkString's rules. */
function isStorable(value: string): boolean {
  return !value.includes("\u0000") && (value as WellFormed).isWellFormed();
}

/** ES2024's String.prototype.isWellFormed (Node 20 has it; the compiler's lib is ES2023). */
type WellFormed = string & { isWellFormed(): boolean };

function checkString(value: string, path: string): void {
  if (value.includes("\u0000"))
    throw new RequestRuleError(path, "contains NUL (U+0000), which cannot be stored; remove it");
  if (!(value as WellFormed).isWellFormed())
    throw new RequestRuleError(path, "is not valid Unicode (a lone UTF-16 surrogate has no UTF-8 form)");
}

function checkStruct(object: Record<string, unknown>, path: string, counter: { entries: number }, depth: number): void {
  if (depth > MAX_STRUCT_DEPTH) throw new RequestRuleError(path, `nests deeper than ${MAX_STRUCT_DEPTH} levels`);
  if (Object.getPrototypeOf(object) !== Object.prototype || Object.hasOwn(object, "__proto__")) {
    throw new RequestRuleError(
      join(path, "__proto__"),
      "is not allowed as a metadata key (it would not survive as JSON data); rename it",
    );
  }
  for (const [key, value] of Object.entries(object)) {
    const keyPath = join(path, key);
    if (key.includes("\u0000"))
      throw new RequestRuleError(
        `${path}[key ${JSON.stringify(key.replaceAll("\u0000", "\\u0000"))}]`,
        "is a metadata key containing NUL (U+0000); remove it",
      );
    checkString(key, keyPath);
    checkJson(value, keyPath, counter, depth);
  }
}

function checkJson(value: unknown, path: string, counter: { entries: number }, depth: number): void {
  if (++counter.entries > MAX_STRUCT_ENTRIES)
    throw new RequestRuleError(
      path,
      `takes metadata past ${MAX_STRUCT_ENTRIES} values; the limit is ${MAX_STRUCT_ENTRIES}`,
    );
  if (typeof value === "number") {
    if (!Number.isFinite(value))
      throw new RequestRuleError(path, "must be a finite number (NaN and Infinity have no JSON form)");
  } else if (typeof value === "string") {
    checkString(value, path);
  } else if (Array.isArray(value)) {
    if (depth + 1 > MAX_STRUCT_DEPTH) throw new RequestRuleError(path, `nests deeper than ${MAX_STRUCT_DEPTH} levels`);
    value.forEach((item, index) => checkJson(item, `${path}[${index}]`, counter, depth + 1));
  } else if (value !== null && typeof value === "object") {
    checkStruct(value as Record<string, unknown>, path, counter, depth + 1);
  }
}

function join(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

/** The proto field path of `name` (a decoded message's JSON name) below `prefix`. */
export function fieldPath(prefix: string, name: string): string {
  return join(prefix, snake(name));
}

const snakeNames = new Map<string, string>();

/** A field's proto name from its JSON name (`catalogId` -> `catalog_id`); a handful of names, cached. */
function snake(name: string): string {
  let result = snakeNames.get(name);
  if (result === undefined) {
    result = name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
    if (snakeNames.size < 1_000) snakeNames.set(name, result);
  }
  return result;
}

/**
 * Applies `checkRequest` to every request message of our services, unary or streamed, before the
 * handler sees it. Health and reflection are left alone.
 */
export function createValidationInterceptor(): Interceptor {
  return (next) => async (req) => {
    if (!req.service.typeName.startsWith("dq.")) return next(req);
    return next(checkEachMessage(req, (message) => checkRequest(message)));
  };
}

type AnyRequest = Parameters<ReturnType<Interceptor>>[0];

/**
 * `req` with `check` applied to its message, or to each message of a stream as the handler reads it
 * (a throw ends the stream there, after the messages before it were handled).
 */
export function checkEachMessage<R extends AnyRequest>(req: R, check: (message: object) => void): R {
  if (!req.stream) {
    check(req.message);
    return req;
  }
  const messages = req.message;
  return {
    ...req,
    message: (async function* () {
      for await (const message of messages) {
        check(message);
        yield message;
      }
    })(),
  };
}
