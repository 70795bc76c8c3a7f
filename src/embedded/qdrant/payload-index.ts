import { PayloadSchemaType } from "@qdrant/js-client-grpc";
import { parseJsonPath, valuesAt, type PathItem } from "./json-path.js";
import type { PayloadObject, PayloadValue } from "./payload.js";
import { createTokenizer, type Tokenizer } from "./text-tokenizer.js";

/**
 * A payload field index: for keyword, uuid, integer and bool fields a map from value to the set of
 * point offsets holding it (any element of a list counts), so a filter on that field touches only the
 * matching points. Other types keep their schema (reported by collection info) and are checked by scan.
 */
export class PayloadIndex {
  readonly field: string;
  readonly type: PayloadSchemaType;
  /** The `PayloadIndexParams` message as the client sent it, echoed by collection info. */
  readonly params: unknown;
  private readonly path: PathItem[];
  /** For full-text indexes: how text and queries are split into tokens. */
  readonly tokenizer: Tokenizer | undefined;
  private readonly byValue = new Map<string, Set<number>>();
  private readonly indexed = new Set<number>();

  constructor(field: string, type: PayloadSchemaType, params: unknown) {
    this.field = field;
    this.type = type;
    this.params = params;
    const path = parseJsonPath(field);
    if (path === null) throw new Error(`invalid payload key ${field}`);
    this.path = path;
    const p = params as { indexParams?: { case?: string; value?: unknown } } | undefined;
    this.tokenizer =
      type === PayloadSchemaType.Text
        ? createTokenizer(
            p?.indexParams?.case === "textIndexParams"
              ? (p.indexParams.value as Parameters<typeof createTokenizer>[0])
              : undefined,
          )
        : undefined;
  }

  get pointsCount(): number {
    return this.indexed.size;
  }

  /** The map key for a payload value, or undefined when this index type does not hold it. */
  keyOf(value: PayloadValue): string | undefined {
    switch (this.type) {
      case PayloadSchemaType.Keyword:
      case PayloadSchemaType.Uuid:
        return typeof value === "string" ? `s${value}` : undefined;
      case PayloadSchemaType.Integer: {
        const n = integerOf(value);
        return n === undefined ? undefined : `i${n}`;
      }
      case PayloadSchemaType.Bool:
        return typeof value === "boolean" ? `b${value}` : undefined;
      default:
        return undefined;
    }
  }

  get isLookup(): boolean {
    return (
      this.type === PayloadSchemaType.Keyword ||
      this.type === PayloadSchemaType.Uuid ||
      this.type === PayloadSchemaType.Integer ||
      this.type === PayloadSchemaType.Bool
    );
  }

  add(offset: number, payload: PayloadObject | undefined): void {
    let any = false;
    for (const value of this.flatValues(payload)) {
      const key = this.keyOf(value);
      if (key === undefined && this.isLookup) continue;
      any = true;
      if (key === undefined) continue;
      let set = this.byValue.get(key);
      if (set === undefined) this.byValue.set(key, (set = new Set()));
      set.add(offset);
    }
    if (any) this.indexed.add(offset);
  }

  remove(offset: number, payload: PayloadObject | undefined): void {
    if (!this.indexed.delete(offset)) return;
    for (const value of this.flatValues(payload)) {
      const key = this.keyOf(value);
      if (key === undefined) continue;
      const set = this.byValue.get(key);
      if (set === undefined) continue;
      set.delete(offset);
      if (set.size === 0) this.byValue.delete(key);
    }
  }

  /** The index keys of one point's values at this field (what Qdrant's forward index holds for it). */
  keysFor(payload: PayloadObject | undefined): string[] {
    const out: string[] = [];
    for (const value of this.flatValues(payload)) {
      const key = this.keyOf(value);
      if (key !== undefined) out.push(key);
    }
    return out;
  }

  /** Every indexed value (as its index key) with the offsets holding it. */
  valueSets(): Iterable<[string, Set<number>]> {
    return this.byValue.entries();
  }

  /** Offsets holding any of the given values (already index keys). */
  lookup(keys: readonly string[]): Set<number> {
    if (keys.length === 1) return this.byValue.get(keys[0]) ?? new Set();
    const out = new Set<number>();
    for (const key of keys) for (const offset of this.byValue.get(key) ?? []) out.add(offset);
    return out;
  }

  private flatValues(payload: PayloadObject | undefined): PayloadValue[] {
    const out: PayloadValue[] = [];
    for (const value of valuesAt(payload, this.path)) {
      if (Array.isArray(value)) out.push(...value);
      else if (value !== null) out.push(value);
    }
    return out;
  }
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/**
 * The integer an integer index holds for a payload value: an int64 as it is, and a double only when it
 * is a whole number (`value_to_integer` in lib/segment/src/index/field_index/utils.rs: `v as i64`, kept
 * when it converts back to the same f64; the cast saturates, so 2^63 becomes i64::MAX). So an integer
 * index holds the double 5.0 as 5, while a match without an index does not (condition_checker.rs
 * compares `as_i64()`, which is None for a double).
 */
export function integerOf(value: PayloadValue): bigint | undefined {
  if (typeof value === "bigint") return value;
  if (typeof value !== "number" || !Number.isInteger(value)) return undefined;
  if (value >= 2 ** 63) return value === 2 ** 63 ? I64_MAX : undefined;
  if (value < -(2 ** 63)) return undefined;
  const n = BigInt(value);
  return n < I64_MIN ? undefined : n;
}
