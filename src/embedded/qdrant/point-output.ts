import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  RetrievedPointSchema,
  ScoredPointSchema,
  WithPayloadSelector,
  WithVectorsSelector,
} from "@qdrant/js-client-grpc";
import type { Collection } from "./collection.js";
import { parseJsonPath, valuesAt } from "./json-path.js";
import { toValueMap, type PayloadObject } from "./payload.js";
import { orderValue } from "./order-by.js";
import { pointIdOf } from "./point-id.js";
import { vectorsOutput } from "./vectors.js";

/**
 * Shapes points for responses. An absent selector means "no payload" / "no vectors", as
 * `with_payload.map(..)` defaulting to `WithPayloadInterface::Bool(false)` does in Qdrant
 * (lib/collection/src/collection/point_ops.rs, universal_query/collection_query.rs), except for
 * Scroll, whose payload default is true (lib/shard/src/scroll.rs `default_with_payload`).
 */
export interface OutputSelectors {
  payload: (p: PayloadObject | undefined) => PayloadObject | undefined;
  vectors: ReadonlySet<string> | "all" | "none";
}

export function selectors(
  withPayload: WithPayloadSelector | undefined,
  withVectors: WithVectorsSelector | undefined,
  payloadByDefault = false,
): OutputSelectors {
  return { payload: payloadSelector(withPayload, payloadByDefault), vectors: vectorSelector(withVectors) };
}

function payloadSelector(s: WithPayloadSelector | undefined, byDefault: boolean): OutputSelectors["payload"] {
  const o = s?.selectorOptions;
  if (o === undefined || o.case === undefined) return byDefault ? (p) => p ?? {} : () => undefined;
  switch (o?.case) {
    case "enable":
      return o.value ? (p) => p ?? {} : () => undefined;
    case "include": {
      const fields = o.value.fields;
      return (p) => {
        const out: PayloadObject = {};
        for (const field of fields) {
          const path = parseJsonPath(field);
          if (path === null) continue;
          if (path.length === 1 && "key" in path[0]) {
            if (p !== undefined && Object.hasOwn(p, path[0].key)) out[path[0].key] = p[path[0].key];
            continue;
          }
          // Nested include: keep the top-level key with only the selected branch.
          const values = valuesAt(p, path);
          if (values.length > 0) setNested(out, field.split("."), values.length === 1 ? values[0] : values);
        }
        return out;
      };
    }
    case "exclude": {
      const fields = new Set(o.value.fields);
      return (p) => {
        const out: PayloadObject = {};
        for (const key of Object.keys(p ?? {})) if (!fields.has(key)) out[key] = p![key];
        return out;
      };
    }
    default:
      return () => undefined;
  }
}

function setNested(target: PayloadObject, keys: string[], value: PayloadObject[string]): void {
  let node = target;
  for (let i = 0; i < keys.length - 1; i++) {
    const next = node[keys[i]];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[keys[i]] = {};
    node = node[keys[i]] as PayloadObject;
  }
  node[keys[keys.length - 1]] = value;
}

function vectorSelector(s: WithVectorsSelector | undefined): OutputSelectors["vectors"] {
  const o = s?.selectorOptions;
  if (o?.case === "enable") return o.value ? "all" : "none";
  if (o?.case === "include") return new Set(o.value.names);
  return "none";
}

export function retrievedPoint(
  c: Collection,
  offset: number,
  sel: OutputSelectors,
): MessageInitShape<typeof RetrievedPointSchema> {
  const payload = sel.payload(c.payloadAt(offset));
  const out: MessageInitShape<typeof RetrievedPointSchema> = {
    id: pointIdOf(c.keyAt(offset)),
    payload: payload === undefined ? {} : toValueMap(payload),
  };
  if (sel.vectors !== "none") {
    out.vectors = vectorsOutput(c.vectorsAt(offset, sel.vectors === "all" ? undefined : sel.vectors));
  }
  return out;
}

export function scoredPoint(
  c: Collection,
  offset: number,
  score: number,
  sel: OutputSelectors,
  order?: bigint | number,
): MessageInitShape<typeof ScoredPointSchema> {
  const { id, payload, vectors } = retrievedPoint(c, offset, sel);
  const out: MessageInitShape<typeof ScoredPointSchema> = { id, payload, vectors, score, version: c.versionAt(offset) };
  if (order !== undefined) out.orderValue = orderValue(order);
  return out;
}
