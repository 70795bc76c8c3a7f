import type { MessageInitShape } from "@bufbuild/protobuf";
import type { OrderBy, OrderValueSchema } from "@qdrant/js-client-grpc";
import { Direction, PayloadSchemaType } from "@qdrant/js-client-grpc";
import type { Collection } from "./collection.js";
import { unimplemented, wrongInput } from "./errors.js";
import type { CompiledFilter } from "./filter.js";
import { parseJsonPath, valuesAt } from "./json-path.js";
import { comparePointKeys } from "./point-id.js";

/**
 * Ordering by a payload field (Scroll and Query `order_by`), as lib/collection/src/shards/local_shard/
 * scroll.rs merges it: (value, point id) pairs sorted ascending or descending, a point with several
 * values appears once per value, `start_from` bounds the first value. The field needs a range-capable
 * index (integer with range, or float), else the error of OperationError::MissingRangeIndexForOrderBy.
 */
export interface Ordered {
  offset: number;
  value: bigint | number;
}

export function orderByField(c: Collection, orderBy: OrderBy, filter: CompiledFilter, limit: number): Ordered[] {
  const index = c.indexes.get(orderBy.key);
  const integerRange =
    index?.type === PayloadSchemaType.Integer &&
    (index.params as { indexParams?: { case?: string; value?: { range?: boolean } } } | undefined)?.indexParams?.value
      ?.range !== false;
  if (index?.type === PayloadSchemaType.Datetime) throw unimplemented("order_by on a datetime field");
  if (index === undefined || !(integerRange || index.type === PayloadSchemaType.Float)) {
    throw wrongInput(
      `No range index for \`order_by\` key: \`${orderBy.key}\`. Please create one to use \`order_by\`. Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload schemas support Range conditions`,
    );
  }
  const path = parseJsonPath(orderBy.key)!;
  const asInteger = index.type === PayloadSchemaType.Integer;
  const descending = orderBy.direction === Direction.Desc;
  const start = startValue(orderBy, asInteger);
  const entries: Ordered[] = [];
  const offsets = filter.trivial ? c.offsetsInIdOrder() : c.filterOffsets(filter);
  for (const offset of offsets) {
    const seen = new Set<bigint | number>();
    for (const raw of valuesAt(c.payloadAt(offset), path)) {
      for (const v of Array.isArray(raw) ? raw : [raw]) {
        const value = asInteger
          ? typeof v === "bigint"
            ? v
            : undefined
          : typeof v === "number"
            ? v
            : typeof v === "bigint"
              ? Number(v)
              : undefined;
        if (value === undefined || seen.has(value)) continue;
        if (start !== undefined && (descending ? compare(value, start) > 0 : compare(value, start) < 0)) continue;
        seen.add(value);
        entries.push({ offset, value });
      }
    }
  }
  entries.sort((a, b) => {
    const byValue =
      a.value < b.value ? -1 : a.value > b.value ? 1 : comparePointKeys(c.keyAt(a.offset), c.keyAt(b.offset));
    return descending ? -byValue : byValue;
  });
  return entries.slice(0, limit);
}

function startValue(orderBy: OrderBy, asInteger: boolean): bigint | number | undefined {
  const s = orderBy.startFrom?.value;
  switch (s?.case) {
    case undefined:
      return undefined;
    case "integer":
      return asInteger ? s.value : Number(s.value);
    case "float":
      return s.value;
    default:
      throw unimplemented("order_by start_from with a timestamp or datetime");
  }
}

function compare(a: bigint | number, b: bigint | number): number {
  if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
  const x = Number(a);
  const y = Number(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function orderValue(value: bigint | number): MessageInitShape<typeof OrderValueSchema> {
  return typeof value === "bigint" ? { variant: { case: "int", value } } : { variant: { case: "float", value } };
}
