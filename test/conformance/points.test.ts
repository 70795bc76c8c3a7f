// Points and Collections RPCs beyond the basic scenario, modelled on qdrant/qdrant
// tests/basic_grpc_test.sh, tests/basic_query_grpc_test.sh and qdrant-js's integration test.
import { ConnectError, ConnectErrorCode as Code, Distance, QdrantClient, UpdateStatus } from "@qdrant/js-client-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idOf, int, nil, num, plainPayload, point, str, uuid } from "./proto.js";
import { startTarget, uniqueName, type Target } from "./target.js";

let target: Target;
let client: QdrantClient;
const created: string[] = [];

beforeAll(async () => {
  target = await startTarget();
  client = target.client();
});
afterAll(async () => {
  // Leave a shared real Qdrant as it was found.
  for (const collectionName of created) await client.api("collections").delete({ collectionName });
  await target.stop();
});

async function rejection(call: () => Promise<unknown>): Promise<ConnectError> {
  try {
    await call();
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

const enable = { selectorOptions: { case: "enable" as const, value: true } };
const ids = (...n: number[]) => ({ pointsSelectorOneOf: { case: "points" as const, value: { ids: n.map(num) } } });
const keyword = (key: string, value: string) => ({
  conditionOneOf: {
    case: "field" as const,
    value: { key, match: { matchValue: { case: "keyword" as const, value } } },
  },
});

async function cosineCollection(name: string): Promise<void> {
  created.push(name);
  await client.api("collections").create({
    collectionName: name,
    vectorsConfig: { config: { case: "params", value: { size: 4n, distance: Distance.Cosine } } },
  });
  await client.api("points").upsert({
    collectionName: name,
    wait: true,
    points: [
      point(1, [0.05, 0.61, 0.76, 0.74], { city: str("Berlin"), n: int(1) }),
      point(2, [0.19, 0.81, 0.75, 0.11], { city: str("London"), n: int(2) }),
      point(3, [0.36, 0.55, 0.47, 0.94], { city: str("Moscow"), n: int(3) }),
      point(4, [0.18, 0.01, 0.85, 0.8], { city: str("London"), n: int(4) }),
      point(5, [0.24, 0.18, 0.22, 0.44], { city: str("Berlin"), n: int(5) }),
      point(6, [0.35, 0.08, 0.11, 0.44], { city: str("Moscow"), n: int(6) }),
    ],
  });
}

describe("points RPCs (conformance)", () => {
  const name = uniqueName("points");
  beforeAll(() => cosineCollection(name));

  it("stores cosine vectors normalized (lib/segment/src/spaces/simple.rs cosine_preprocess)", async () => {
    const got = await client.api("points").get({ collectionName: name, ids: [num(1)], withVectors: enable });
    const v = got.result[0].vectors?.vectorsOptions;
    expect(v?.case).toBe("vector");
    if (v?.case === "vector" && v.value.vector.case === "dense") {
      const data = v.value.vector.value.data;
      const norm = Math.hypot(0.05, 0.61, 0.76, 0.74);
      expect(data[0]).toBeCloseTo(0.05 / norm, 6);
      expect(Math.hypot(...data)).toBeCloseTo(1, 6);
    } else {
      throw new Error("expected a dense vector");
    }
  });

  it("answers Acknowledged without wait and Completed with wait, with growing operation ids", async () => {
    const a = await client.api("points").upsert({ collectionName: name, points: [point(100, [1, 1, 1, 1])] });
    expect(a.result?.status).toBe(UpdateStatus.Acknowledged);
    const b = await client.api("points").delete({ collectionName: name, wait: true, points: ids(100) });
    expect(b.result?.status).toBe(UpdateStatus.Completed);
    expect(b.result?.operationId).toBeGreaterThan(a.result!.operationId!);
  });

  it("scrolls in id order with next_page_offset", async () => {
    const first = await client.api("points").scroll({ collectionName: name, limit: 4 });
    expect(first.result.map(idOf)).toEqual(["1", "2", "3", "4"]);
    // Scroll returns payload unless told otherwise (lib/shard/src/scroll.rs default_with_payload).
    expect(plainPayload(first.result[0].payload)).toEqual({ city: "Berlin", n: 1n });
    const search = await client.api("points").search({ collectionName: name, vector: [1, 1, 1, 1], limit: 1n });
    expect(search.result[0].payload).toEqual({});
    expect(first.nextPageOffset?.pointIdOptions).toEqual({ case: "num", value: 5n });
    const second = await client.api("points").scroll({ collectionName: name, limit: 4, offset: first.nextPageOffset });
    expect(second.result.map(idOf)).toEqual(["5", "6"]);
    expect(second.nextPageOffset).toBeUndefined();
  });

  it("edits payloads: set (merge, under a key), overwrite, delete keys, clear", async () => {
    const coll = uniqueName("payload");
    await cosineCollection(coll);
    const payloadOf = async (id: number) =>
      plainPayload(
        (await client.api("points").get({ collectionName: coll, ids: [num(id)], withPayload: enable })).result[0]
          .payload,
      );
    await client
      .api("points")
      .setPayload({ collectionName: coll, wait: true, payload: { extra: str("x") }, pointsSelector: ids(1) });
    expect(await payloadOf(1)).toEqual({ city: "Berlin", n: 1n, extra: "x" });
    await client
      .api("points")
      .setPayload({ collectionName: coll, wait: true, payload: { deep: int(7) }, pointsSelector: ids(1), key: "meta" });
    expect(await payloadOf(1)).toEqual({ city: "Berlin", n: 1n, extra: "x", meta: { deep: 7n } });
    await client
      .api("points")
      .deletePayload({ collectionName: coll, wait: true, keys: ["extra", "meta.deep"], pointsSelector: ids(1) });
    expect(await payloadOf(1)).toEqual({ city: "Berlin", n: 1n, meta: {} });
    await client
      .api("points")
      .overwritePayload({ collectionName: coll, wait: true, payload: { only: str("this") }, pointsSelector: ids(1) });
    expect(await payloadOf(1)).toEqual({ only: "this" });
    await client.api("points").clearPayload({ collectionName: coll, wait: true, points: ids(1) });
    expect(await payloadOf(1)).toEqual({});
    // By filter.
    await client.api("points").setPayload({
      collectionName: coll,
      wait: true,
      payload: { flagged: str("yes") },
      pointsSelector: { pointsSelectorOneOf: { case: "filter", value: { must: [keyword("city", "London")] } } },
    });
    const count = await client
      .api("points")
      .count({ collectionName: coll, exact: true, filter: { must: [keyword("flagged", "yes")] } });
    expect(count.result?.count).toBe(2n);
  });

  it("removes a key set to null and refuses payload edits of missing ids with NOT_FOUND", async () => {
    const coll = uniqueName("payload_null");
    await cosineCollection(coll);
    const payloadOf = async (id: number) =>
      plainPayload(
        (await client.api("points").get({ collectionName: coll, ids: [num(id)], withPayload: enable })).result[0]
          .payload,
      );
    // SetPayload merges with `merge_map` (lib/segment/src/common/utils.rs, called by Payload::merge in
    // lib/segment/src/types.rs and JsonPath::value_set in lib/segment/src/json_path/mod.rs): a null
    // value removes the key, at the top level and under `key` alike.
    await client.api("points").setPayload({
      collectionName: coll,
      wait: true,
      payload: { city: nil(), extra: str("x") },
      pointsSelector: ids(1),
    });
    expect(await payloadOf(1)).toEqual({ n: 1n, extra: "x" });
    await client.api("points").setPayload({
      collectionName: coll,
      wait: true,
      payload: { a: int(1), b: int(2) },
      pointsSelector: ids(1),
      key: "meta",
    });
    await client
      .api("points")
      .setPayload({ collectionName: coll, wait: true, payload: { a: nil() }, pointsSelector: ids(1), key: "meta" });
    expect(await payloadOf(1)).toEqual({ n: 1n, extra: "x", meta: { b: 2n } });
    // Upsert and OverwritePayload store the payload as given, null included.
    await client
      .api("points")
      .overwritePayload({ collectionName: coll, wait: true, payload: { gone: nil() }, pointsSelector: ids(2) });
    expect(await payloadOf(2)).toEqual({ gone: null });
    // Every listed id must exist: `check_unprocessed_points` (lib/shard/src/update/helpers.rs, called by
    // each edit in lib/shard/src/update/payload.rs) fails with PointIdError, NOT_FOUND on the wire.
    const missing = [
      () =>
        client
          .api("points")
          .setPayload({ collectionName: coll, wait: true, payload: { extra: str("y") }, pointsSelector: ids(999) }),
      () =>
        client.api("points").overwritePayload({
          collectionName: coll,
          wait: true,
          payload: { extra: str("y") },
          pointsSelector: ids(999),
        }),
      () =>
        client
          .api("points")
          .deletePayload({ collectionName: coll, wait: true, keys: ["extra"], pointsSelector: ids(999) }),
      () => client.api("points").clearPayload({ collectionName: coll, wait: true, points: ids(999) }),
    ];
    for (const call of missing) {
      const err = await rejection(call);
      expect(err.code).toBe(Code.NotFound);
      expect(err.rawMessage).toBe("Not found: No point with id 999 found");
    }
    expect((await client.api("points").count({ collectionName: coll, exact: true })).result?.count).toBe(6n);
    // By filter, no point is "missing": nothing matches and the call succeeds.
    const none = await client.api("points").setPayload({
      collectionName: coll,
      wait: true,
      payload: { extra: str("z") },
      pointsSelector: { pointsSelectorOneOf: { case: "filter", value: { must: [keyword("city", "Atlantis")] } } },
    });
    expect(none.result?.status).toBe(UpdateStatus.Completed);
  });

  it("deletes by filter and creates / deletes field indexes", async () => {
    const coll = uniqueName("delete");
    await cosineCollection(coll);
    await client.api("points").createFieldIndex({ collectionName: coll, fieldName: "city", fieldType: 0, wait: true });
    await client.api("points").delete({
      collectionName: coll,
      wait: true,
      points: { pointsSelectorOneOf: { case: "filter", value: { must: [keyword("city", "Moscow")] } } },
    });
    const left = await client.api("points").scroll({ collectionName: coll, limit: 10 });
    expect(left.result.map(idOf)).toEqual(["1", "2", "4", "5"]);
    await client.api("points").deleteFieldIndex({ collectionName: coll, fieldName: "city", wait: true });
    const info = await client.api("collections").get({ collectionName: coll });
    expect(Object.keys(info.result?.payloadSchema ?? {})).toEqual([]);
  });

  it("applies UpdateBatch operations in order with one result each", async () => {
    const coll = uniqueName("batch");
    await cosineCollection(coll);
    const r = await client.api("points").updateBatch({
      collectionName: coll,
      wait: true,
      operations: [
        { operation: { case: "upsert", value: { points: [point(10, [1, 0, 0, 0], { city: str("Rome") })] } } },
        { operation: { case: "setPayload", value: { payload: { tag: str("t") }, pointsSelector: ids(10) } } },
        { operation: { case: "deletePoints", value: { points: ids(1, 2) } } },
      ],
    });
    expect(r.result.map((x) => x.status)).toEqual([
      UpdateStatus.Completed,
      UpdateStatus.Completed,
      UpdateStatus.Completed,
    ]);
    const got = await client.api("points").get({ collectionName: coll, ids: [num(10), num(1)], withPayload: enable });
    expect(got.result.map((p) => [idOf(p), plainPayload(p.payload)])).toEqual([["10", { city: "Rome", tag: "t" }]]);
  });

  it("runs SearchBatch and QueryBatch", async () => {
    const sb = await client.api("points").searchBatch({
      collectionName: name,
      searchPoints: [
        { collectionName: name, vector: [0.2, 0.1, 0.9, 0.7], limit: 2n },
        {
          collectionName: name,
          vector: [0.2, 0.1, 0.9, 0.7],
          limit: 1n,
          filter: { must: [keyword("city", "Berlin")] },
        },
      ],
    });
    expect(sb.result.map((r) => r.result.map(idOf))).toEqual([["4", "1"], ["1"]]);
    const qb = await client.api("points").queryBatch({
      collectionName: name,
      queryPoints: [
        {
          collectionName: name,
          query: {
            variant: { case: "nearest", value: { variant: { case: "dense", value: { data: [0.2, 0.1, 0.9, 0.7] } } } },
          },
          limit: 2n,
        },
        { collectionName: name, filter: { must: [keyword("city", "Moscow")] } },
      ],
    });
    expect(qb.result.map((r) => r.result.map(idOf))).toEqual([
      ["4", "1"],
      ["3", "6"],
    ]);
  });

  it("queries nearest by vector and by id (excluding the id), with offset and score_threshold", async () => {
    const nearest = (data: number[]) => ({
      variant: { case: "nearest" as const, value: { variant: { case: "dense" as const, value: { data } } } },
    });
    const all = await client
      .api("points")
      .query({ collectionName: name, query: nearest([0.2, 0.1, 0.9, 0.7]), limit: 6n });
    expect(all.result.map(idOf)).toEqual(["4", "1", "5", "3", "6", "2"]);
    const paged = await client
      .api("points")
      .query({ collectionName: name, query: nearest([0.2, 0.1, 0.9, 0.7]), limit: 2n, offset: 1n });
    expect(paged.result.map(idOf)).toEqual(["1", "5"]);
    const threshold = all.result[2].score;
    // Strictly better than the threshold: `check_threshold` in lib/segment/src/types.rs, applied by
    // lib/collection/src/shards/local_shard/search.rs; a point scoring exactly the threshold is left out.
    const above = await client
      .api("points")
      .query({ collectionName: name, query: nearest([0.2, 0.1, 0.9, 0.7]), limit: 6n, scoreThreshold: threshold });
    expect(above.result.map(idOf)).toEqual(["4", "1"]);
    const justBelow = await client.api("points").query({
      collectionName: name,
      query: nearest([0.2, 0.1, 0.9, 0.7]),
      limit: 6n,
      scoreThreshold: threshold - 1e-4,
    });
    expect(justBelow.result.map(idOf)).toEqual(["4", "1", "5"]);
    const byId = await client.api("points").query({
      collectionName: name,
      query: { variant: { case: "nearest", value: { variant: { case: "id", value: num(4) } } } },
      limit: 2n,
    });
    expect(byId.result.map(idOf)).not.toContain("4");
    expect(byId.result).toHaveLength(2);
    const missing = await rejection(() =>
      client.api("points").query({
        collectionName: name,
        query: { variant: { case: "nearest", value: { variant: { case: "id", value: num(999) } } } },
      }),
    );
    expect(missing.code).toBe(Code.NotFound);
    expect(missing.rawMessage).toBe("Not found: No point with id 999 found");
  });

  it("groups query results by a keyword (QueryGroups, SearchGroups)", async () => {
    const q = await client.api("points").queryGroups({
      collectionName: name,
      query: {
        variant: { case: "nearest", value: { variant: { case: "dense", value: { data: [0.2, 0.1, 0.9, 0.7] } } } },
      },
      groupBy: "city",
      limit: 2n,
      groupSize: 2n,
    });
    const groups = q.result?.groups.map((g) => [g.id?.kind.value, g.hits.map(idOf)]);
    expect(groups).toEqual([
      ["London", ["4", "2"]],
      ["Berlin", ["1", "5"]],
    ]);
    const s = await client
      .api("points")
      .searchGroups({ collectionName: name, vector: [0.2, 0.1, 0.9, 0.7], groupBy: "city", limit: 3, groupSize: 1 });
    expect(s.result?.groups.map((g) => g.id?.kind.value)).toEqual(["London", "Berlin", "Moscow"]);
  });

  it("rejects malformed ids, NaN and unknown vector names", async () => {
    const badUuid = await rejection(() =>
      client.api("points").get({ collectionName: name, ids: [uuid("not-a-uuid")] }),
    );
    expect(badUuid.code).toBe(Code.InvalidArgument);
    expect(badUuid.rawMessage).toBe("Unable to parse UUID: not-a-uuid");
    const noId = await rejection(() =>
      client.api("points").upsert({
        collectionName: name,
        wait: true,
        points: [{ vectors: { vectorsOptions: { case: "vector", value: { data: [1, 2, 3, 4] } } } }],
      }),
    );
    expect(noId.code).toBe(Code.InvalidArgument);
    expect(noId.rawMessage).toBe("Empty ID is not allowed");
    const noVectors = await rejection(() =>
      client.api("points").upsert({ collectionName: name, wait: true, points: [{ id: num(78) }] }),
    );
    expect(noVectors.code).toBe(Code.InvalidArgument);
    expect(noVectors.rawMessage).toBe("Expected some vectors");
    // NaN: Qdrant 1.19 has no finiteness check (nothing in lib/api/src/grpc or lib/segment/src/data_types
    // rejects it) and stores a vector that poisons every score. The embedded server refuses it instead:
    // a deliberate, documented difference, asserted per target.
    const nanCall = () =>
      client.api("points").upsert({ collectionName: name, wait: true, points: [point(77, [NaN, 1, 1, 1])] });
    if (target.embedded) {
      const nan = await rejection(nanCall);
      expect(nan.code).toBe(Code.InvalidArgument);
      expect(nan.rawMessage).toContain("non-finite");
    } else {
      expect((await nanCall()).result?.status).toBe(UpdateStatus.Completed);
      await client.api("points").delete({ collectionName: name, wait: true, points: ids(77) });
    }
    const named = await rejection(() =>
      client.api("points").search({ collectionName: name, vector: [1, 1, 1, 1], limit: 1n, vectorName: "nope" }),
    );
    expect(named.code).toBe(Code.InvalidArgument);
    expect(named.rawMessage).toBe("Wrong input: Not existing vector name error: nope");
  });

  it("refuses a limit over the stated strict-mode max_query_limit (verification/mod.rs check_limit_opt)", async () => {
    const strict = uniqueName("strict");
    await client.api("collections").create({
      collectionName: strict,
      vectorsConfig: { config: { case: "params", value: { size: 4n, distance: Distance.Cosine } } },
      strictModeConfig: { enabled: true, maxQueryLimit: 5 },
    });
    const ok = await client.api("points").search({ collectionName: strict, vector: [1, 1, 1, 1], limit: 5n });
    expect(ok.result).toEqual([]);
    const err = await rejection(() =>
      client.api("points").search({ collectionName: strict, vector: [1, 1, 1, 1], limit: 6n }),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe(
      'Bad request: Limit exceeded 6 > 5 for "limit". Help: Reduce the "limit" parameter to or below 5.',
    );
    await client.api("collections").delete({ collectionName: strict });
  });

  it("keeps uint64 ids beyond 2^53 exact and orders numeric ids before uuids in Scroll", async () => {
    const coll = uniqueName("ids");
    await cosineCollection(coll);
    const big = 18446744073709551615n; // u64::MAX
    await client.api("points").upsert({
      collectionName: coll,
      wait: true,
      points: [
        { id: num(big), vectors: { vectorsOptions: { case: "vector", value: { data: [1, 0, 0, 0] } } } },
        point("00000000-0000-0000-0000-000000000001", [0, 1, 0, 0]),
      ],
    });
    const got = await client.api("points").get({ collectionName: coll, ids: [num(big)] });
    expect(got.result[0].id?.pointIdOptions).toEqual({ case: "num", value: big });
    const page = await client.api("points").scroll({ collectionName: coll, limit: 100 });
    expect(page.result.map(idOf)).toEqual([
      "1",
      "2",
      "3",
      "4",
      "5",
      "6",
      big.toString(),
      "00000000-0000-0000-0000-000000000001",
    ]);
  });

  it("accepts uuids in any form Uuid::parse_str does and returns them hyphenated", async () => {
    await client
      .api("points")
      .upsert({ collectionName: name, wait: true, points: [point("F0E09527B09642A894E9EA94D342B925", [1, 2, 3, 4])] });
    const got = await client
      .api("points")
      .get({ collectionName: name, ids: [uuid("f0e09527-b096-42a8-94e9-ea94d342b925")] });
    expect(got.result.map(idOf)).toEqual(["f0e09527-b096-42a8-94e9-ea94d342b925"]);
    await client.api("points").delete({
      collectionName: name,
      wait: true,
      points: {
        pointsSelectorOneOf: { case: "points", value: { ids: [uuid("f0e09527-b096-42a8-94e9-ea94d342b925")] } },
      },
    });
  });
});

describe("exact search over a larger collection", () => {
  it("returns the top-k by each distance, with Qdrant's float32 scores (lib/segment/src/spaces/simple.rs)", async () => {
    const dim = 12;
    const vec = (i: number) => Array.from({ length: dim }, (_, j) => Math.fround(Math.sin(i * 1.7 + j * 0.3)));
    const n = 5000;
    const f32 = Math.fround;
    // Below 16 dimensions Qdrant scores with its scalar loops on every CPU (simple.rs: SSE/NEON from 16,
    // AVX+FMA from 32): one float32 accumulator in element order. The API score is the similarity for
    // Dot and the distance for Euclid (sqrt) and Manhattan (MetricPostProcessing in simple.rs).
    const cases = [
      [Distance.Dot, (a: number[], b: number[]) => a.reduce((s, x, i) => f32(s + f32(x * b[i])), 0), true],
      [
        Distance.Euclid,
        (a: number[], b: number[]) => f32(Math.sqrt(a.reduce((s, x, i) => f32(s + f32(f32(x - b[i]) ** 2)), 0))),
        false,
      ],
      [
        Distance.Manhattan,
        (a: number[], b: number[]) => a.reduce((s, x, i) => f32(s + Math.abs(f32(x - b[i]))), 0),
        false,
      ],
    ] as const;
    for (const [distance, apiScore, largerIsBetter] of cases) {
      const coll = uniqueName("exact");
      created.push(coll);
      await client.api("collections").create({
        collectionName: coll,
        vectorsConfig: { config: { case: "params", value: { size: BigInt(dim), distance } } },
      });
      for (let from = 0; from < n; from += 1000) {
        await client.api("points").upsert({
          collectionName: coll,
          wait: true,
          points: Array.from({ length: 1000 }, (_, k) => point(from + k + 1, vec(from + k + 1))),
        });
      }
      const q = vec(123456);
      const k = 5;
      const reference = new Map(Array.from({ length: n }, (_, i) => [String(i + 1), apiScore(vec(i + 1), q)] as const));
      const better = (x: number, y: number) => (largerIsBetter ? x > y : x < y);
      const best = [...reference.values()].sort((x, y) => (better(x, y) ? -1 : better(y, x) ? 1 : 0)).slice(0, k);
      const got = await client
        .api("points")
        .search({ collectionName: coll, vector: q, limit: BigInt(k), params: { exact: true } });
      expect(got.result).toHaveLength(k);
      // Scores, not the order of near-ties: each hit carries its own score, the hits are sorted by it,
      // and they are the k best scores. An id may only differ from the reference's where scores tie
      // within float32 rounding.
      const tolerance = 1e-5;
      got.result.forEach((p, i) => {
        expect(Math.abs(p.score - reference.get(idOf(p))!)).toBeLessThanOrEqual(tolerance);
        expect(Math.abs(p.score - best[i])).toBeLessThanOrEqual(tolerance);
        if (i > 0) expect(better(p.score, got.result[i - 1].score)).toBe(false);
      });
      const kth = best[k - 1];
      for (const [id, score] of reference) {
        if (better(score, largerIsBetter ? kth + tolerance : kth - tolerance))
          expect(got.result.map(idOf)).toContain(id);
      }
      await client.api("collections").delete({ collectionName: coll });
      created.splice(created.indexOf(coll), 1);
    }
  });
});

describe("order_by (lib/collection/src/shards/local_shard/scroll.rs)", () => {
  it("scrolls and queries ordered by an indexed numeric field, with start_from and order values", async () => {
    const coll = uniqueName("ordered");
    await cosineCollection(coll); // n = 1..6 on ids 1..6
    const noIndex = await rejection(() => client.api("points").scroll({ collectionName: coll, orderBy: { key: "n" } }));
    expect(noIndex.code).toBe(Code.InvalidArgument);
    expect(noIndex.rawMessage).toContain("No range index for `order_by` key: `n`");
    await client.api("points").createFieldIndex({ collectionName: coll, fieldName: "n", fieldType: 1, wait: true });
    const desc = await client
      .api("points")
      .scroll({ collectionName: coll, limit: 3, orderBy: { key: "n", direction: 1 } });
    expect(desc.result.map(idOf)).toEqual(["6", "5", "4"]);
    expect(desc.result[0].orderValue?.variant).toEqual({ case: "int", value: 6n });
    const from = await client.api("points").scroll({
      collectionName: coll,
      limit: 10,
      orderBy: { key: "n", startFrom: { value: { case: "integer", value: 4n } } },
      filter: { mustNot: [keyword("city", "Berlin")] },
    });
    expect(from.result.map(idOf)).toEqual(["4", "6"]);
    const q = await client
      .api("points")
      .query({ collectionName: coll, query: { variant: { case: "orderBy", value: { key: "n" } } }, limit: 2n });
    expect(q.result.map(idOf)).toEqual(["1", "2"]);
    expect(q.result[1].orderValue?.variant).toEqual({ case: "int", value: 2n });
  });
});

describe("aliases (conformance)", () => {
  it("creates, renames and deletes aliases, and serves points through them", async () => {
    const coll = uniqueName("aliased");
    const alias = uniqueName("alias");
    const renamed = uniqueName("renamed");
    await cosineCollection(coll);
    await client.api("collections").updateAliases({
      actions: [{ action: { case: "createAlias", value: { collectionName: coll, aliasName: alias } } }],
    });
    const listed = await client.api("collections").listCollectionAliases({ collectionName: coll });
    expect(listed.aliases.map((a) => [a.aliasName, a.collectionName])).toEqual([[alias, coll]]);
    const viaAlias = await client.api("points").count({ collectionName: alias, exact: true });
    expect(viaAlias.result?.count).toBe(6n);
    await client.api("points").upsert({ collectionName: alias, wait: true, points: [point(7, [1, 1, 1, 1])] });
    expect((await client.api("points").count({ collectionName: coll, exact: true })).result?.count).toBe(7n);

    await client.api("collections").updateAliases({
      actions: [{ action: { case: "renameAlias", value: { oldAliasName: alias, newAliasName: renamed } } }],
    });
    const all = await client.api("collections").listAliases({});
    expect(all.aliases.map((a) => a.aliasName)).toContain(renamed);
    expect(all.aliases.map((a) => a.aliasName)).not.toContain(alias);
    const gone = await rejection(() => client.api("points").count({ collectionName: alias }));
    expect(gone.code).toBe(Code.NotFound);

    const missingRename = await rejection(() =>
      client.api("collections").updateAliases({
        actions: [{ action: { case: "renameAlias", value: { oldAliasName: alias, newAliasName: "x" } } }],
      }),
    );
    expect(missingRename.code).toBe(Code.NotFound);
    expect(missingRename.rawMessage).toBe(`Not found: Alias ${alias} does not exists!`);

    await client
      .api("collections")
      .updateAliases({ actions: [{ action: { case: "deleteAlias", value: { aliasName: renamed } } }] });
    expect((await client.api("collections").listCollectionAliases({ collectionName: coll })).aliases).toEqual([]);
    const deleted = await client.api("collections").delete({ collectionName: coll });
    expect(deleted.result).toBe(true);
    const again = await client.api("collections").delete({ collectionName: coll });
    expect(again.result).toBe(false);
  });
});

describe("unimplemented features", () => {
  it("answer UNIMPLEMENTED naming the feature, never a silently wrong answer", async () => {
    const name = uniqueName("unimpl");
    await cosineCollection(name);
    if (!target.embedded) {
      // Real Qdrant implements recommendation: the same call answers with points.
      const ok = await client.api("points").recommend({ collectionName: name, positive: [num(1)], limit: 1n });
      expect(ok.result).toHaveLength(1);
      return;
    }
    const rec = await rejection(() =>
      client.api("points").recommend({ collectionName: name, positive: [num(1)], limit: 1n }),
    );
    expect(rec.code).toBe(Code.Unimplemented);
    expect(rec.rawMessage).toContain("qdrant.Points/Recommend");
    const snap = await rejection(() => client.api("snapshots").list({ collectionName: name }));
    expect(snap.code).toBe(Code.Unimplemented);
    expect(snap.rawMessage).toContain("qdrant.Snapshots/List");
    const multi = await rejection(() =>
      client.api("collections").create({
        collectionName: uniqueName("multi"),
        vectorsConfig: {
          config: {
            case: "params",
            value: { size: 4n, distance: Distance.Cosine, multivectorConfig: { comparator: 0 } },
          },
        },
      }),
    );
    expect(multi.code).toBe(Code.Unimplemented);
    expect(multi.rawMessage).toContain("Multi vectors");
  });
});
