import { PayloadSchemaType } from "@qdrant/js-client-grpc";
import type { Condition, FieldCondition, Filter, Match } from "./proto-types.js";
import { invalidArgument, unimplemented, validationError } from "./errors.js";
import { parseJsonPath, valuesAt, type PathItem } from "./json-path.js";
import type { PayloadIndex } from "./payload-index.js";
import { isPayloadObject, type PayloadObject, type PayloadValue } from "./payload.js";
import { pointKeyOf, type PointKey } from "./point-id.js";
import type { Tokenizer } from "./text-tokenizer.js";

/**
 * The filter language, evaluated as lib/segment/src/payload_storage/query_checker.rs and
 * condition_checker.rs do: `should` (any), `min_should` (at least n), `must` (all), `must_not` (none);
 * empty conditions are dropped (conversions.rs `conditions_helper_from_grpc`); a field condition over a
 * missing key answers `check_empty`; a list value matches when any element does.
 */
export interface FilterEnv {
  payload: PayloadObject | undefined;
  key: PointKey | undefined;
  hasVector(name: string): boolean;
  /** The tokenizer of a full-text index on `key`, if any: text matches then compare tokens. */
  textIndex?(key: string): Tokenizer | undefined;
  /** The payload index on `key`, if any: conditions it can serve are answered from its values. */
  fieldIndex?(key: string): PayloadIndex | undefined;
}

export type Predicate = (env: FilterEnv) => boolean;

export interface IndexSource {
  index(field: string): PayloadIndex | undefined;
  offsetOf(key: PointKey): number | undefined;
}

export interface Candidates {
  readonly offsets: Set<number>;
  /** True when every offset matches (the indexes answered the whole filter): no per-point check. */
  readonly exact: boolean;
}

export interface CompiledFilter {
  /** True when the filter accepts every point (absent or empty). */
  readonly trivial: boolean;
  readonly test: Predicate;
  /** Offsets that can match, found through payload indexes; undefined means "scan everything". */
  candidates(source: IndexSource): Candidates | undefined;
}

const ALWAYS: CompiledFilter = { trivial: true, test: () => true, candidates: () => undefined };

export function compileFilter(filter: Filter | undefined, label = "filter"): CompiledFilter {
  if (filter === undefined) return ALWAYS;
  const test = compileFilterPredicate(filter, label);
  const must = filter.must.filter((c) => c.conditionOneOf.case !== undefined);
  const mustNot = filter.mustNot.filter((c) => c.conditionOneOf.case !== undefined);
  const noShould = filter.should.every((c) => c.conditionOneOf.case === undefined) && filter.minShould === undefined;
  const trivial = must.length === 0 && mustNot.length === 0 && noShould;
  return {
    trivial,
    test,
    candidates: (source) => {
      const sets: Set<number>[] = [];
      let allIndexed = noShould;
      for (const condition of must) {
        const set = indexedCandidates(condition, source);
        if (set === undefined) allIndexed = false;
        else sets.push(set);
      }
      if (sets.length === 0) return undefined;
      const excluded: Set<number>[] = [];
      for (const condition of allIndexed ? mustNot : []) {
        const set = indexedCandidates(condition, source);
        if (set === undefined) allIndexed = false;
        else excluded.push(set);
      }
      sets.sort((a, b) => a.size - b.size);
      if (!allIndexed) return { offsets: sets[0], exact: false };
      // Every condition is an exact index lookup: the must sets' intersection, less the must_not sets,
      // is the answer (as a scan would find it: the index's values are what conditions test).
      const [smallest, ...others] = sets;
      // A must_not whose index holds nothing (no point is `rejected`, say) excludes nothing: the must set
      // is the answer as it is, not a copy of it made per query.
      const excluding = excluded.filter((set) => set.size > 0);
      if (others.length === 0 && excluding.length === 0) return { offsets: smallest, exact: true };
      const offsets = new Set<number>();
      for (const o of smallest) {
        if (others.every((set) => set.has(o)) && !excluding.some((set) => set.has(o))) offsets.add(o);
      }
      return { offsets, exact: true };
    },
  };
}

function compileFilterPredicate(filter: Filter, label: string): Predicate {
  const compileAll = (conditions: Condition[], part: string): Predicate[] =>
    conditions
      .map((c, i) => ({ c, i }))
      .filter(({ c }) => c.conditionOneOf.case !== undefined)
      .map(({ c, i }) => compileCondition(c, `${label}.${part}[${i}]`));
  const should = compileAll(filter.should, "should");
  const must = compileAll(filter.must, "must");
  const mustNot = compileAll(filter.mustNot, "must_not");
  const minShould = filter.minShould;
  const minConditions = minShould ? compileAll(minShould.conditions, "min_should.conditions") : [];
  const minCount = minShould ? Number(minShould.minCount) : 0;
  return (env) => {
    if (should.length > 0 && !should.some((p) => p(env))) return false;
    if (minShould !== undefined) {
      let hits = 0;
      for (const p of minConditions) if (hits < minCount && p(env)) hits++;
      if (hits !== minCount) return false;
    }
    for (const p of must) if (!p(env)) return false;
    for (const p of mustNot) if (p(env)) return false;
    return true;
  };
}

function pathOf(key: string): PathItem[] {
  const path = parseJsonPath(key);
  if (path === null) throw invalidArgument(`Invalid key: ${key}`);
  return path;
}

function compileCondition(condition: Condition, label: string): Predicate {
  const c = condition.conditionOneOf;
  switch (c.case) {
    case "field":
      return compileField(c.value, `${label}.field`);
    case "filter":
      return compileFilterPredicate(c.value, `${label}.filter`);
    case "hasId": {
      const keys = new Set(c.value.hasId.map((id) => pointKeyOf(id)));
      return (env) => env.key !== undefined && keys.has(env.key);
    }
    case "isEmpty": {
      const path = pathOf(c.value.key);
      // lib/segment/src/common/utils.rs check_is_empty: every value is null or an empty list.
      return (env) => valuesAt(env.payload, path).every((v) => v === null || (Array.isArray(v) && v.length === 0));
    }
    case "isNull": {
      const path = pathOf(c.value.key);
      return (env) => valuesAt(env.payload, path).some((v) => v === null);
    }
    case "hasVector": {
      const name = c.value.hasVector;
      return (env) => env.hasVector(name);
    }
    case "nested": {
      const nested = c.value;
      if (nested.filter === undefined) throw invalidArgument("Nested condition must have a filter");
      const path = pathOf(`${nested.key}[]`);
      const inner = compileFilterPredicate(nested.filter, `${label}.nested.filter`);
      return (env) =>
        valuesAt(env.payload, path).some(
          (v) => isPayloadObject(v) && inner({ payload: v, key: undefined, hasVector: () => false }),
        );
    }
    default:
      return () => true;
  }
}

type ValueCheck = (value: PayloadValue) => boolean;

function compileField(field: FieldCondition, label: string): Predicate {
  const path = pathOf(field.key);
  const checks: ValueCheck[] = [];
  if (field.match !== undefined) checks.push(compileMatch(field.match, label));
  const range = field.range;
  if (range !== undefined) {
    checks.push((v) => {
      const n = typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : undefined;
      if (n === undefined) return false;
      return (
        (range.lt === undefined || n < range.lt) &&
        (range.gt === undefined || n > range.gt) &&
        (range.lte === undefined || n <= range.lte) &&
        (range.gte === undefined || n >= range.gte)
      );
    });
  } else if (field.datetimeRange !== undefined) {
    const r = field.datetimeRange;
    const ms = (t: typeof r.lt) => (t === undefined ? undefined : Number(t.seconds) * 1000 + t.nanos / 1e6);
    const [lt, gt, lte, gte] = [ms(r.lt), ms(r.gt), ms(r.lte), ms(r.gte)];
    checks.push((v) => {
      if (typeof v !== "string") return false;
      const n = Date.parse(v);
      if (Number.isNaN(n)) return false;
      return (
        (lt === undefined || n < lt) &&
        (gt === undefined || n > gt) &&
        (lte === undefined || n <= lte) &&
        (gte === undefined || n >= gte)
      );
    });
  }
  if (field.geoBoundingBox !== undefined || field.geoRadius !== undefined || field.geoPolygon !== undefined) {
    throw unimplemented("Geo filter conditions");
  }
  const vc = field.valuesCount;
  const countOk = (n: number): boolean =>
    vc !== undefined &&
    (vc.lt === undefined || n < Number(vc.lt)) &&
    (vc.gt === undefined || n > Number(vc.gt)) &&
    (vc.lte === undefined || n <= Number(vc.lte)) &&
    (vc.gte === undefined || n >= Number(vc.gte));
  const isEmpty = field.isEmpty;
  const isNull = field.isNull;
  if (checks.length === 0 && vc === undefined && isEmpty === undefined && isNull === undefined) {
    throw validationError(`${label}.match: At least one field condition must be specified`);
  }
  // FieldCondition::check (condition_checker.rs): values_count, is_empty and is_null take precedence.
  const checkOne = (value: PayloadValue): boolean => {
    if (vc !== undefined) return countOk(value === null ? 0 : Array.isArray(value) ? value.length : 1);
    if (isEmpty !== undefined) {
      if (value === null) return isEmpty;
      if (Array.isArray(value)) return (value.length === 0) === isEmpty;
      return !isEmpty;
    }
    if (isNull !== undefined) {
      if (value === null) return isNull;
      if (Array.isArray(value)) return value.some((x) => x === null) === isNull;
      return !isNull;
    }
    if (Array.isArray(value)) return value.some((x) => checks.some((check) => check(x)));
    return checks.some((check) => check(value));
  };
  const whenMissing =
    vc !== undefined ? countOk(0) : isEmpty !== undefined ? isEmpty : isNull !== undefined ? !isNull : false;
  const text = textQuery(field.match);
  if (text !== undefined) {
    return (env) => {
      const values = valuesAt(env.payload, path);
      if (values.length === 0) return whenMissing;
      const tokenizer = env.textIndex?.(field.key);
      // Without a full-text index Qdrant tests substrings (condition_checker.rs); with one, tokens.
      return tokenizer === undefined ? values.some(checkOne) : matchesTokens(values, tokenizer, text);
    };
  }
  const served = indexServedCheck(field);
  return (env) => {
    if (served !== undefined) {
      const index = env.fieldIndex?.(field.key);
      const check = index === undefined ? undefined : served(index);
      if (check !== undefined) return check(index!.keysFor(env.payload));
    }
    const values = valuesAt(env.payload, path);
    if (values.length === 0) return whenMissing;
    return values.some(checkOne);
  };
}

type IndexedCheck = (keys: readonly string[]) => boolean;

/**
 * A condition that a payload index on its field answers from the values the index holds, not from the
 * payload: `field_condition_checker` (lib/segment/src/index/struct_payload_index/read_view/
 * condition_converter.rs) asks each index for a `condition_checker` first and reads the payload only
 * when none serves it. Keyword indexes serve keyword / keywords / except-keywords matches, integer
 * indexes integer / integers / except-integers matches and ranges (map_index/payload_index_impl/
 * {str,int}.rs, numeric_index/query.rs); a point passes when any of its indexed values does. The
 * difference shows where the index converts: an integer index holds the double 5.0 as 5
 * (field_index/utils.rs `value_to_integer`), and values of another type are not indexed at all.
 */
function indexServedCheck(field: FieldCondition): ((index: PayloadIndex) => IndexedCheck | undefined) | undefined {
  const onlyMatch = field.match !== undefined && field.range === undefined;
  const onlyRange = field.range !== undefined && field.match === undefined;
  if (
    field.valuesCount !== undefined ||
    field.isEmpty !== undefined ||
    field.isNull !== undefined ||
    field.datetimeRange !== undefined
  ) {
    return undefined;
  }
  if (onlyRange) {
    const r = field.range!;
    const inRange = (n: number): boolean =>
      (r.lt === undefined || n < r.lt) &&
      (r.gt === undefined || n > r.gt) &&
      (r.lte === undefined || n <= r.lte) &&
      (r.gte === undefined || n >= r.gte);
    return (index) =>
      index.type === PayloadSchemaType.Integer ? (keys) => keys.some((k) => inRange(Number(k.slice(1)))) : undefined;
  }
  if (!onlyMatch) return undefined;
  const m = field.match!.matchValue;
  const anyOf =
    (wanted: ReadonlySet<string>, negate: boolean): IndexedCheck =>
    (keys) =>
      keys.some((k) => wanted.has(k) !== negate);
  switch (m.case) {
    case "keyword": {
      const key = `s${m.value}`;
      return (index) => (index.type === PayloadSchemaType.Keyword ? (keys) => keys.includes(key) : undefined);
    }
    case "keywords":
    case "exceptKeywords": {
      const wanted = new Set(m.value.strings.map((x) => `s${x}`));
      const negate = m.case === "exceptKeywords";
      return (index) => (index.type === PayloadSchemaType.Keyword ? anyOf(wanted, negate) : undefined);
    }
    case "integer": {
      const key = `i${m.value}`;
      return (index) => (index.type === PayloadSchemaType.Integer ? (keys) => keys.includes(key) : undefined);
    }
    case "integers":
    case "exceptIntegers": {
      const wanted = new Set(m.value.integers.map((x) => `i${x}`));
      const negate = m.case === "exceptIntegers";
      return (index) => (index.type === PayloadSchemaType.Integer ? anyOf(wanted, negate) : undefined);
    }
    default:
      return undefined;
  }
}

interface TextQuery {
  mode: "all" | "any" | "phrase";
  text: string;
}

function textQuery(match: Match | undefined): TextQuery | undefined {
  const m = match?.matchValue;
  if (m?.case === "text") return { mode: "all", text: m.value };
  if (m?.case === "textAny") return { mode: "any", text: m.value };
  if (m?.case === "phrase") return { mode: "phrase", text: m.value };
  return undefined;
}

/**
 * Full-text semantics over every string at the key: `text` needs all query tokens, `text_any` one of
 * them, `phrase` the query tokens consecutively within one value.
 */
function matchesTokens(values: PayloadValue[], tokenizer: Tokenizer, query: TextQuery): boolean {
  const wanted = tokenizer(query.text);
  const strings = values.flatMap((v) => (Array.isArray(v) ? v : [v])).filter((v): v is string => typeof v === "string");
  if (query.mode === "phrase") {
    return strings.some((s) => {
      const tokens = tokenizer(s);
      for (let i = 0; i + wanted.length <= tokens.length; i++) {
        if (wanted.every((w, j) => tokens[i + j] === w)) return true;
      }
      return false;
    });
  }
  const have = new Set(strings.flatMap((s) => tokenizer(s)));
  if (wanted.length === 0) return false;
  return query.mode === "all" ? wanted.every((w) => have.has(w)) : wanted.some((w) => have.has(w));
}

function compileMatch(match: Match, label: string): ValueCheck {
  const m = match.matchValue;
  switch (m.case) {
    case "keyword": {
      const s = m.value;
      return (v) => v === s;
    }
    case "integer": {
      const n = m.value;
      return (v) => typeof v === "bigint" && v === n;
    }
    case "boolean": {
      const b = m.value;
      return (v) => v === b;
    }
    case "text":
    case "phrase": {
      const t = m.value;
      return (v) => typeof v === "string" && v.includes(t);
    }
    case "textAny": {
      const tokens = m.value.split(/\s+/).filter((t) => t.length > 0);
      return (v) => typeof v === "string" && tokens.some((t) => v.includes(t));
    }
    case "keywords": {
      const set = new Set(m.value.strings);
      return (v) => typeof v === "string" && set.has(v);
    }
    case "integers": {
      const set = new Set(m.value.integers);
      return (v) => typeof v === "bigint" && set.has(v);
    }
    case "exceptKeywords": {
      const set = new Set(m.value.strings);
      // MatchExcept: a value of another type passes, null does not (condition_checker.rs).
      return (v) => v !== null && !(typeof v === "string" && set.has(v));
    }
    case "exceptIntegers": {
      const set = new Set(m.value.integers);
      return (v) => v !== null && !(typeof v === "bigint" && set.has(v));
    }
    default:
      throw invalidArgument(`Malformed Match condition (${label}.match)`);
  }
}

function indexedCandidates(condition: Condition, source: IndexSource): Set<number> | undefined {
  const c = condition.conditionOneOf;
  if (c.case === "hasId") {
    const out = new Set<number>();
    for (const id of c.value.hasId) {
      const offset = source.offsetOf(pointKeyOf(id));
      if (offset !== undefined) out.add(offset);
    }
    return out;
  }
  if (c.case !== "field" || c.value.match === undefined) return undefined;
  const field = c.value;
  if (field.range || field.valuesCount || field.isEmpty !== undefined || field.isNull !== undefined) return undefined;
  const index = source.index(field.key);
  if (index === undefined || !index.isLookup) return undefined;
  const m = field.match!.matchValue;
  let keys: (string | undefined)[];
  switch (m.case) {
    case "keyword":
      keys = [index.keyOf(m.value)];
      break;
    case "integer":
      keys = [index.keyOf(m.value)];
      break;
    case "boolean":
      keys = [index.keyOf(m.value)];
      break;
    case "keywords":
      keys = m.value.strings.map((s) => index.keyOf(s));
      break;
    case "integers":
      keys = m.value.integers.map((n) => index.keyOf(n));
      break;
    default:
      return undefined;
  }
  // A value the index cannot hold (another type): scan, so the answer stays exact. Uuid indexes
  // compare parsed uuids in Qdrant, which a string key does not model: scan those too.
  if (keys.some((k) => k === undefined) || index.type === PayloadSchemaType.Uuid) return undefined;
  return index.lookup(keys as string[]);
}

/** All of the given filters (AND); index narrowing uses the smallest candidate set among them. */
export function allOf(filters: readonly CompiledFilter[]): CompiledFilter {
  const active = filters.filter((f) => !f.trivial);
  if (active.length === 0) return ALWAYS;
  if (active.length === 1) return active[0];
  return {
    trivial: false,
    test: (env) => active.every((f) => f.test(env)),
    candidates: (source) => {
      let best: Set<number> | undefined;
      for (const f of active) {
        const found = f.candidates(source);
        if (found !== undefined && (best === undefined || found.offsets.size < best.size)) best = found.offsets;
      }
      return best === undefined ? undefined : { offsets: best, exact: false };
    },
  };
}

/** Excludes the given point keys (used by "nearest by id", which never returns the id itself). */
export function excludingKeys(keys: ReadonlySet<PointKey>): CompiledFilter {
  if (keys.size === 0) return ALWAYS;
  return { trivial: false, test: (env) => env.key === undefined || !keys.has(env.key), candidates: () => undefined };
}
