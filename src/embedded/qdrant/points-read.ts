import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  BatchResultSchema,
  CountPoints,
  CountResultSchema,
  FacetCounts,
  FacetHitSchema,
  GetPoints,
  GroupsResultSchema,
  QueryBatchPoints,
  QueryPointGroups,
  QueryPoints,
  RetrievedPointSchema,
  ScoredPointSchema,
  ScrollPoints,
  ScrollResponseSchema,
  SearchBatchPoints,
  SearchPointGroups,
  SearchPoints,
} from "@qdrant/js-client-grpc";
import type { Collection } from "./collection.js";
import { badRequest, unimplemented, validationError } from "./errors.js";
import { compileFilter } from "./filter.js";
import { facet } from "./facet.js";
import { groupHits } from "./groups.js";
import { orderByField, orderValue } from "./order-by.js";
import { retrievedPoint, scoredPoint, selectors, type OutputSelectors } from "./point-output.js";
import { comparePointKeys, pointIdOf, pointKeyOf } from "./point-id.js";
import { DEFAULT_QUERY_LIMIT, runQuery } from "./query.js";
import { search } from "./search.js";
import type { Storage } from "./storage.js";
import type { Scored } from "./top-k.js";
import { readSparse } from "./vectors.js";
import { floatsOf, SEARCH_VECTOR_FIELD } from "./wire-vectors.js";

/** Read RPCs of `qdrant.Points`, from request message to response body. */

type Retrieved = MessageInitShape<typeof RetrievedPointSchema>;
type ScoredOut = MessageInitShape<typeof ScoredPointSchema>;

function atLeastOne(field: string, value: number): void {
  // `range(min = 1)` validators of lib/api/build.rs, worded by collection/src/operations/validation.rs.
  if (value < 1) throw validationError(`${field}: value ${value} invalid, must be 1 or larger`);
}

/**
 * The stated maximum: `strict_mode_config.max_query_limit` of an enabled strict mode, worded as
 * `check_limit_opt` in lib/collection/src/operations/verification/mod.rs (a BadRequest).
 */
function checkQueryLimit(c: Collection, limit: number): void {
  const strict = c.config.strictModeConfig;
  const max = strict?.maxQueryLimit;
  if (strict?.enabled === true && max !== undefined && limit > max) {
    throw badRequest(
      `Limit exceeded ${limit} > ${max} for "limit". Help: Reduce the "limit" parameter to or below ${max}.`,
    );
  }
}

export function facetCounts(storage: Storage, req: FacetCounts): MessageInitShape<typeof FacetHitSchema>[] {
  const c = storage.resolve(req.collectionName);
  const limit = req.limit === undefined ? 10 : Number(req.limit);
  atLeastOne("limit", limit);
  return facet(c, req.key, compileFilter(req.filter), limit);
}

export function getPoints(storage: Storage, req: GetPoints): Retrieved[] {
  const c = storage.resolve(req.collectionName);
  const sel = selectors(req.withPayload, req.withVectors);
  const seen = new Set<number>();
  const out: Retrieved[] = [];
  for (const id of req.ids) {
    const offset = c.offsetOf(pointKeyOf(id));
    if (offset === undefined || seen.has(offset)) continue;
    seen.add(offset);
    out.push(retrievedPoint(c, offset, sel));
  }
  return out;
}

export function countPoints(storage: Storage, req: CountPoints): MessageInitShape<typeof CountResultSchema> {
  const c = storage.resolve(req.collectionName);
  const filter = compileFilter(req.filter);
  return { count: BigInt(filter.trivial ? c.pointsCount : c.filterOffsets(filter).length) };
}

export function scrollPoints(storage: Storage, req: ScrollPoints): MessageInitShape<typeof ScrollResponseSchema> {
  const c = storage.resolve(req.collectionName);
  const limit = req.limit ?? 10;
  atLeastOne("limit", limit);
  checkQueryLimit(c, limit);
  const filter = compileFilter(req.filter);
  if (req.orderBy !== undefined) {
    // Ordered scrolls have no next page offset (local_shard/scroll.rs); page with start_from.
    const sel = selectors(req.withPayload, req.withVectors, true);
    const result = orderByField(c, req.orderBy, filter, limit).map(
      (o) => Object.assign(retrievedPoint(c, o.offset, sel), { orderValue: orderValue(o.value) }) as Retrieved,
    );
    return { result };
  }
  const from = req.offset === undefined ? undefined : pointKeyOf(req.offset);
  const matching = filter.trivial ? undefined : new Set(c.filterOffsets(filter));
  const sel = selectors(req.withPayload, req.withVectors, true);
  const result: Retrieved[] = [];
  let next: MessageInitShape<typeof ScrollResponseSchema>["nextPageOffset"];
  const order = c.offsetsInIdOrder();
  let start = 0;
  if (from !== undefined) {
    // Binary search for the first id >= offset.
    let hi = order.length;
    while (start < hi) {
      const mid = (start + hi) >> 1;
      if (comparePointKeys(c.keyAt(order[mid]), from) < 0) start = mid + 1;
      else hi = mid;
    }
  }
  for (let i = start; i < order.length; i++) {
    const offset = order[i];
    if (matching !== undefined && !matching.has(offset)) continue;
    if (result.length === limit) {
      next = pointIdOf(c.keyAt(offset));
      break;
    }
    result.push(retrievedPoint(c, offset, sel));
  }
  return { result, nextPageOffset: next };
}

function scored(c: Collection, hits: Scored[], sel: OutputSelectors): ScoredOut[] {
  return hits.map((h) => scoredPoint(c, h.offset, h.score, sel, h.orderValue));
}

function searchHits(c: Collection, req: SearchPoints | SearchPointGroups, top: number): Scored[] {
  const using = req.vectorName ?? "";
  // Through the shadow schema `vector` (field 2) arrives as raw bytes (wire-vectors.ts).
  const floats = floatsOf(
    (req as { $unknown?: Parameters<typeof floatsOf>[0] }).$unknown,
    SEARCH_VECTOR_FIELD,
    req.vector,
  );
  const vector =
    req.sparseIndices !== undefined ? readSparse(req.sparseIndices.data, Array.from(floats), "sparse_indices") : floats;
  return search(c, { using, vector, filter: compileFilter(req.filter), top, scoreThreshold: req.scoreThreshold }).map(
    (h) => ({
      offset: h.offset,
      score: h.apiScore,
    }),
  );
}

export function searchPoints(storage: Storage, req: SearchPoints): ScoredOut[] {
  const c = storage.resolve(req.collectionName);
  const limit = Number(req.limit);
  atLeastOne("limit", limit);
  checkQueryLimit(c, limit);
  const offset = Number(req.offset ?? 0n);
  const hits = searchHits(c, req, limit + offset).slice(offset);
  return scored(c, hits, selectors(req.withPayload, req.withVectors));
}

export function searchBatch(storage: Storage, req: SearchBatchPoints): MessageInitShape<typeof BatchResultSchema>[] {
  storage.resolve(req.collectionName);
  return req.searchPoints.map((s) => ({ result: searchPoints(storage, { ...s, collectionName: req.collectionName }) }));
}

export function searchGroups(storage: Storage, req: SearchPointGroups): MessageInitShape<typeof GroupsResultSchema> {
  const c = storage.resolve(req.collectionName);
  atLeastOne("limit", req.limit);
  atLeastOne("group_size", req.groupSize);
  if (req.withLookup !== undefined) throw unimplemented("with_lookup");
  const hits = searchHits(c, req, Infinity);
  const sel = selectors(req.withPayload, req.withVectors);
  return {
    groups: groupHits(c, hits, req.groupBy, req.limit, req.groupSize).map((g) => ({
      id: g.id,
      hits: scored(c, g.hits, sel),
    })),
  };
}

function queryHits(c: Collection, req: QueryPoints | QueryPointGroups, top: number): Scored[] {
  if (req.lookupFrom !== undefined) throw unimplemented("lookup_from");
  return runQuery(c, {
    prefetch: req.prefetch,
    query: req.query,
    using: req.using ?? "",
    filters: [compileFilter(req.filter)],
    scoreThreshold: req.scoreThreshold,
    top,
  });
}

export function queryPoints(storage: Storage, req: QueryPoints): ScoredOut[] {
  const c = storage.resolve(req.collectionName);
  const limit = req.limit === undefined ? DEFAULT_QUERY_LIMIT : Number(req.limit);
  atLeastOne("limit", limit);
  checkQueryLimit(c, limit);
  const offset = Number(req.offset ?? 0n);
  const hits = queryHits(c, req, limit + offset).slice(offset);
  return scored(c, hits, selectors(req.withPayload, req.withVectors));
}

export function queryBatch(storage: Storage, req: QueryBatchPoints): MessageInitShape<typeof BatchResultSchema>[] {
  storage.resolve(req.collectionName);
  return req.queryPoints.map((q) => ({ result: queryPoints(storage, { ...q, collectionName: req.collectionName }) }));
}

export function queryGroups(storage: Storage, req: QueryPointGroups): MessageInitShape<typeof GroupsResultSchema> {
  const c = storage.resolve(req.collectionName);
  const limit = req.limit === undefined ? DEFAULT_QUERY_LIMIT : Number(req.limit);
  const groupSize = req.groupSize === undefined ? 3 : Number(req.groupSize);
  atLeastOne("limit", limit);
  atLeastOne("group_size", groupSize);
  if (req.groupBy.length === 0) throw validationError("group_by: length must be at least 1");
  if (req.withLookup !== undefined) throw unimplemented("with_lookup");
  const hits = queryHits(c, req, Infinity);
  const sel = selectors(req.withPayload, req.withVectors);
  return {
    groups: groupHits(c, hits, req.groupBy, limit, groupSize).map((g) => ({ id: g.id, hits: scored(c, g.hits, sel) })),
  };
}
