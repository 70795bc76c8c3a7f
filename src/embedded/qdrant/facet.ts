import type { MessageInitShape } from "@bufbuild/protobuf";
import type { FacetHitSchema } from "@qdrant/js-client-grpc";
import { PayloadSchemaType } from "@qdrant/js-client-grpc";
import type { Collection } from "./collection.js";
import { wrongInput } from "./errors.js";
import type { CompiledFilter } from "./filter.js";

/**
 * Facet counts (lib/segment/src/data_types/facets.rs): how many matching points hold each value of
 * an indexed keyword, integer, uuid or bool field, as the index holds them (an integer index holds the
 * double 5.0 as 5); the `limit` largest counts (10 by default), ties by value ascending (`Ord for
 * FacetHit`), keywords before integers before uuids before booleans (`FacetValue`'s variant order).
 */
const VARIANT_ORDER: Record<string, number> = { s: 0, i: 1, b: 3 };

export function facet(
  c: Collection,
  key: string,
  filter: CompiledFilter,
  limit: number,
): MessageInitShape<typeof FacetHitSchema>[] {
  const index = c.indexes.get(key);
  if (index === undefined || !index.isLookup) {
    throw wrongInput(
      `No appropriate index for faceting: \`${key}\`. Please create one to facet on this field. Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload schemas support Match conditions`,
    );
  }
  const matching = filter.trivial ? undefined : new Set(c.filterOffsets(filter));
  const counts: { key: string; count: number }[] = [];
  for (const [valueKey, offsets] of index.valueSets()) {
    let count = 0;
    if (matching === undefined) count = offsets.size;
    else for (const o of offsets) if (matching.has(o)) count++;
    if (count > 0) counts.push({ key: valueKey, count });
  }
  const rank = (k: string) => (index.type === PayloadSchemaType.Uuid ? 2 : VARIANT_ORDER[k[0]]);
  counts.sort((a, b) => b.count - a.count || rank(a.key) - rank(b.key) || compareValues(a.key, b.key));
  return counts.slice(0, limit).map(({ key: k, count }) => ({ value: facetValue(k), count: BigInt(count) }));
}

function compareValues(a: string, b: string): number {
  if (a[0] === "i" && b[0] === "i") {
    const x = BigInt(a.slice(1));
    const y = BigInt(b.slice(1));
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a[0] === "b") return a === b ? 0 : a === "bfalse" ? -1 : 1;
  // Rust compares Strings byte by byte (UTF-8), which JS's UTF-16 `<` does not do above U+FFFF.
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function facetValue(k: string): MessageInitShape<typeof FacetHitSchema>["value"] {
  switch (k[0]) {
    case "i":
      return { variant: { case: "integerValue", value: BigInt(k.slice(1)) } };
    case "b":
      return { variant: { case: "boolValue", value: k === "btrue" } };
    default:
      return { variant: { case: "stringValue", value: k.slice(1) } };
  }
}
