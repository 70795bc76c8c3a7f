import type { PrefetchQuery, Query, VectorInput } from "@qdrant/js-client-grpc";
import { Fusion } from "@qdrant/js-client-grpc";
import type { Collection } from "./collection.js";
import { badRequest, notFound, unimplemented, validationError, wrongInput } from "./errors.js";
import { allOf, compileFilter, excludingKeys, type CompiledFilter } from "./filter.js";
import { dbsf, DEFAULT_RRF_K, rrf } from "./fusion.js";
import { pointKeyOf, type PointKey } from "./point-id.js";
import { orderByField } from "./order-by.js";
import { byPointId, search } from "./search.js";
import type { SparseVector } from "./sparse-storage.js";
import type { Scored } from "./top-k.js";
import { readSparse } from "./vectors.js";
import { denseData } from "./wire-vectors.js";

/**
 * The universal Query (lib/collection/src/collection/query.rs and
 * lib/collection/src/operations/universal_query/collection_query.rs): prefetches run first (each with
 * the root filter AND its own, and its own limit, 10 by default), then the root query either rescores
 * their union (`nearest`) or fuses them (`rrf`, `dbsf`). Without a query, points come in id order with
 * score 0. Ids used as query vectors are excluded from the results.
 */
export interface QueryPlan {
  prefetch: readonly PrefetchQuery[];
  query: Query | undefined;
  using: string;
  filters: readonly CompiledFilter[];
  scoreThreshold: number | undefined;
  /** limit + offset */
  top: number;
}

export const DEFAULT_QUERY_LIMIT = 10;

export function runQuery(c: Collection, plan: QueryPlan): Scored[] {
  const q = plan.query?.variant;
  if (plan.prefetch.length > 0 && q === undefined) {
    throw badRequest("A query is needed to merge the prefetches. Can't have prefetches without defining a query.");
  }
  if (plan.scoreThreshold !== undefined && q === undefined) {
    throw badRequest(
      "A query is needed to use the score_threshold. Can't have score_threshold without defining a query.",
    );
  }
  if ((q?.case === "fusion" || q?.case === "rrf") && plan.using !== "") {
    throw badRequest("Fusion queries cannot be combined with the 'using' field.");
  }
  const excluded = new Set<PointKey>();
  const lists = plan.prefetch.map((p, i) => runQuery(c, prefetchPlan(p, plan.filters, i)));

  switch (q?.case) {
    case undefined: {
      const filter = allOf(plan.filters);
      const offsets = filter.trivial ? c.offsetsInIdOrder() : sortByKey(c, c.filterOffsets(filter));
      return offsets.slice(0, plan.top).map((offset) => ({ offset, score: 0 }));
    }
    case "nearest": {
      const vector = resolveVector(c, q.value, plan.using, excluded);
      const filter = allOf([...plan.filters, excludingKeys(excluded)]);
      if (plan.prefetch.length === 0) {
        return search(c, { using: plan.using, vector, filter, top: plan.top, scoreThreshold: plan.scoreThreshold }).map(
          (h) => ({ offset: h.offset, score: h.apiScore }),
        );
      }
      return rescore(c, plan, vector, lists, filter);
    }
    case "orderBy": {
      // Over the prefetched points when there are prefetches, else over the filtered collection.
      const candidates = plan.prefetch.length === 0 ? undefined : new Set(lists.flatMap((l) => l.map((h) => h.offset)));
      const keys = new Set([...(candidates ?? [])].map((o) => c.keyAt(o)));
      const prefetched: CompiledFilter = {
        trivial: false,
        test: (env) => env.key !== undefined && keys.has(env.key),
        candidates: () => ({ offsets: candidates!, exact: false }),
      };
      const filter = allOf(candidates === undefined ? plan.filters : [...plan.filters, prefetched]);
      return orderByField(c, q.value, filter, plan.top).map((o) => ({
        offset: o.offset,
        score: 0,
        orderValue: o.value,
      }));
    }
    case "fusion":
      return cut(
        q.value === Fusion.DBSF ? dbsf(lists, byPointId(c)) : rrf(lists, DEFAULT_RRF_K, undefined, byPointId(c)),
        plan,
      );
    case "rrf": {
      const k = q.value.k ?? DEFAULT_RRF_K;
      if (k < 1) throw validationError(`query.rrf.k: value ${k} invalid, must be 1 or larger`);
      const weights = q.value.weights.length > 0 ? q.value.weights : undefined;
      if (weights !== undefined && weights.length !== lists.length) {
        throw badRequest(
          `Number of weights in RRF should match number of pre-fetches: got ${weights.length}, expected ${lists.length}`,
        );
      }
      return cut(rrf(lists, k, weights, byPointId(c)), plan);
    }
    default:
      throw unimplemented(`Query variant \`${String(q?.case)}\``);
  }
}

function prefetchPlan(p: PrefetchQuery, filters: readonly CompiledFilter[], i: number): QueryPlan {
  if (p.lookupFrom !== undefined) throw unimplemented("lookup_from");
  const limit = p.limit === undefined ? DEFAULT_QUERY_LIMIT : Number(p.limit);
  if (limit < 1) throw validationError(`prefetch[${i}].limit: value ${limit} invalid, must be 1 or larger`);
  return {
    prefetch: p.prefetch,
    query: p.query,
    using: p.using ?? "",
    filters: p.filter === undefined ? filters : [...filters, compileFilter(p.filter, `prefetch[${i}].filter`)],
    scoreThreshold: p.scoreThreshold,
    top: limit,
  };
}

function cut(list: Scored[], plan: QueryPlan): Scored[] {
  const t = plan.scoreThreshold;
  return (t === undefined ? list : list.filter((h) => h.score >= t)).slice(0, plan.top);
}

function sortByKey(c: Collection, offsets: number[]): number[] {
  const order = new Map(c.offsetsInIdOrder().map((o, i) => [o, i]));
  return offsets.sort((a, b) => order.get(a)! - order.get(b)!);
}

/** Scores the union of the prefetched points against the root `nearest` vector. */
function rescore(
  c: Collection,
  plan: QueryPlan,
  vector: Float32Array | SparseVector,
  lists: Scored[][],
  filter: CompiledFilter,
): Scored[] {
  const candidates = new Set<number>();
  for (const list of lists) for (const h of list) candidates.add(h.offset);
  const within: CompiledFilter = {
    trivial: false,
    test: filter.test,
    candidates: () => ({ offsets: candidates, exact: false }),
  };
  return search(c, {
    using: plan.using,
    vector,
    filter: within,
    top: plan.top,
    scoreThreshold: plan.scoreThreshold,
  }).map((h) => ({ offset: h.offset, score: h.apiScore }));
}

/** A `VectorInput` as a query vector: dense, sparse, or the stored vector of a point id. */
export function resolveVector(
  c: Collection,
  input: VectorInput,
  using: string,
  excluded: Set<PointKey>,
): Float32Array | SparseVector {
  const v = input.variant;
  switch (v.case) {
    case "dense":
      return denseData(v.value);
    case "sparse":
      return readSparse(v.value.indices, v.value.values, "query.nearest.sparse");
    case "id": {
      const key = pointKeyOf(v.value);
      const offset = c.offsetOf(key);
      if (offset === undefined) throw notFound(`No point with id ${key.slice(1)} found`);
      const stored = c.vectorsAt(offset, new Set([using])).get(using);
      if (stored === undefined) throw wrongInput(`Not existing vector name error: ${using}`);
      excluded.add(key);
      return stored;
    }
    case "multiDense":
      throw unimplemented("Multi vectors (multi_dense)");
    case undefined:
      throw validationError("query.nearest: a vector is required");
    default:
      throw unimplemented("Inference (document, image and object inputs)");
  }
}
