// The filter language, checked through Count and Scroll. Semantics from qdrant/qdrant
// lib/segment/src/payload_storage/query_checker.rs (should/must/must_not/min_should),
// condition_checker.rs (match, range, values_count, is_empty/is_null per value),
// lib/segment/src/common/utils.rs (IsEmpty / IsNull conditions) and lib/segment/src/json_path/mod.rs
// (`a.b`, `a[].b`, no implicit flattening).
import { ConnectError, ConnectErrorCode as Code, Distance, QdrantClient } from "@qdrant/js-client-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bool, dbl, idOf, int, list, nil, num, obj, point, str } from "./proto.js";
import { startTarget, uniqueName, type Target } from "./target.js";

let target: Target;
let client: QdrantClient;
const name = uniqueName("filters");

/** Every collection made here, deleted after the file (also when a case stopped half-way). */
const created: string[] = [];

/** Creates `collectionName` with the five points every filter case below reads. */
async function seed(collectionName: string): Promise<void> {
  created.push(collectionName);
  await client.api("collections").create({
    collectionName,
    vectorsConfig: { config: { case: "params", value: { size: 2n, distance: Distance.Euclid } } },
  });
  await client.api("points").upsert({
    collectionName,
    wait: true,
    points: [
      point(1, [1, 0], {
        city: str("Berlin"),
        tags: list(str("a"), str("b")),
        n: int(5),
        price: dbl(9.5),
        ok: bool(true),
        note: str("hello big world"),
      }),
      point(2, [0, 1], {
        city: str("London"),
        tags: list(str("b")),
        n: int(10),
        price: dbl(20),
        ok: bool(false),
        empty: list(),
      }),
      point(3, [1, 1], {
        city: list(str("Moscow"), str("Berlin")),
        n: dbl(5),
        nothing: nil(),
        mixed: list(nil(), int(1)),
      }),
      point(4, [2, 2], {
        country: obj({
          name: str("DE"),
          cities: list(obj({ name: str("Berlin"), pop: int(3) }), obj({ name: str("Bonn"), pop: int(1) })),
        }),
      }),
      point(5, [3, 3], {}),
    ],
  });
}

// The shared collection is only read; every case that writes or indexes makes its own collection.
beforeAll(async () => {
  target = await startTarget();
  client = target.client({ compression: true }); // gzip both ways; points.test.ts runs without
  await seed(name);
});
afterAll(async () => {
  // Deleting a collection that is already gone answers `false`, not an error.
  for (const collectionName of created) await client.api("collections").delete({ collectionName });
  await target.stop();
});

const field = (key: string, rest: Record<string, unknown>) => ({
  conditionOneOf: { case: "field" as const, value: { key, ...rest } },
});
const keyword = (key: string, value: string) => field(key, { match: { matchValue: { case: "keyword", value } } });

/** Ids matching `filter` in `collectionName` through Scroll, checked against an exact Count. */
async function idsIn(collectionName: string, filter: Record<string, unknown>): Promise<string[]> {
  const page = await client.api("points").scroll({ collectionName, filter: filter as never, limit: 100 });
  const count = await client.api("points").count({ collectionName, filter: filter as never, exact: true });
  const found = page.result.map(idOf);
  expect(count.result?.count).toBe(BigInt(found.length));
  return found;
}

const ids = (filter: Record<string, unknown>): Promise<string[]> => idsIn(name, filter);

describe("filters (conformance)", () => {
  it("matches a keyword against a value or any element of a list", async () => {
    expect(await ids({ must: [keyword("city", "Berlin")] })).toEqual(["1", "3"]);
    expect(await ids({ must: [keyword("tags", "b")] })).toEqual(["1", "2"]);
  });

  it("combines should (any), must (all), must_not (none) and min_should (at least n)", async () => {
    expect(await ids({ should: [keyword("city", "London"), keyword("city", "Moscow")] })).toEqual(["2", "3"]);
    expect(await ids({ must: [keyword("city", "Berlin"), keyword("tags", "a")] })).toEqual(["1"]);
    expect(await ids({ mustNot: [keyword("city", "Berlin")] })).toEqual(["2", "4", "5"]);
    expect(
      await ids({
        minShould: {
          minCount: 2n,
          conditions: [
            keyword("city", "Berlin"),
            keyword("tags", "b"),
            field("ok", { match: { matchValue: { case: "boolean", value: true } } }),
          ],
        },
      }),
    ).toEqual(["1"]);
  });

  it("nests filters as conditions", async () => {
    const inner = {
      conditionOneOf: {
        case: "filter" as const,
        value: { should: [keyword("city", "London"), keyword("city", "Moscow")] },
      },
    };
    expect(await ids({ must: [inner], mustNot: [keyword("city", "Berlin")] })).toEqual(["2"]);
  });

  it("matches integers only against integer values (5.0 as a double is not integer 5)", async () => {
    // No index on n: condition_checker.rs compares `as_i64()`, which a double does not give.
    expect(await ids({ must: [field("n", { match: { matchValue: { case: "integer", value: 5n } } })] })).toEqual(["1"]);
  });

  it("matches booleans, any-of and except", async () => {
    expect(await ids({ must: [field("ok", { match: { matchValue: { case: "boolean", value: false } } })] })).toEqual([
      "2",
    ]);
    expect(
      await ids({
        must: [
          field("city", { match: { matchValue: { case: "keywords", value: { strings: ["London", "Moscow"] } } } }),
        ],
      }),
    ).toEqual(["2", "3"]);
    expect(
      await ids({
        must: [field("n", { match: { matchValue: { case: "integers", value: { integers: [10n, 11n] } } } })],
      }),
    ).toEqual(["2"]);
    // Except: a point passes when any value is outside the list; missing keys do not match.
    expect(
      await ids({
        must: [field("city", { match: { matchValue: { case: "exceptKeywords", value: { strings: ["Berlin"] } } } })],
      }),
    ).toEqual(["2", "3"]);
  });

  it("matches text as a substring without a full-text index (condition_checker.rs)", async () => {
    expect(await ids({ must: [field("note", { match: { matchValue: { case: "text", value: "big" } } })] })).toEqual([
      "1",
    ]);
  });

  it("filters numeric ranges over integers and doubles", async () => {
    expect(await ids({ must: [field("n", { range: { gte: 5, lt: 10 } })] })).toEqual(["1", "3"]);
    expect(await ids({ must: [field("price", { range: { gt: 9.5 } })] })).toEqual(["2"]);
  });

  it("selects by id with has_id", async () => {
    expect(
      await ids({ must: [{ conditionOneOf: { case: "hasId", value: { hasId: [num(2), num(4), num(99)] } } }] }),
    ).toEqual(["2", "4"]);
  });

  it("answers is_empty (missing, null or []) and is_null (a null value)", async () => {
    expect(await ids({ must: [{ conditionOneOf: { case: "isEmpty", value: { key: "empty" } } }] })).toEqual([
      "1",
      "2",
      "3",
      "4",
      "5",
    ]);
    expect(await ids({ must: [{ conditionOneOf: { case: "isEmpty", value: { key: "nothing" } } }] })).toEqual([
      "1",
      "2",
      "3",
      "4",
      "5",
    ]);
    expect(await ids({ mustNot: [{ conditionOneOf: { case: "isEmpty", value: { key: "city" } } }] })).toEqual([
      "1",
      "2",
      "3",
    ]);
    expect(await ids({ must: [{ conditionOneOf: { case: "isNull", value: { key: "nothing" } } }] })).toEqual(["3"]);
    expect(await ids({ must: [{ conditionOneOf: { case: "isNull", value: { key: "city" } } }] })).toEqual([]);
  });

  it("counts values with values_count", async () => {
    expect(await ids({ must: [field("tags", { valuesCount: { gte: 2n } })] })).toEqual(["1"]);
    expect(await ids({ must: [field("city", { valuesCount: { lt: 2n } })] })).toEqual(["1", "2", "4", "5"]);
  });

  it("reads nested keys a.b and a[].b, and nested conditions on array objects", async () => {
    expect(await ids({ must: [keyword("country.name", "DE")] })).toEqual(["4"]);
    expect(await ids({ must: [keyword("country.cities[].name", "Bonn")] })).toEqual(["4"]);
    // Without [] an array is not entered (json_path value_get).
    expect(await ids({ must: [keyword("country.cities.name", "Bonn")] })).toEqual([]);
    const nested = (filter: Record<string, unknown>) => ({
      conditionOneOf: { case: "nested" as const, value: { key: "country.cities", filter } },
    });
    // The same object must satisfy both conditions: Berlin has pop 3, Bonn pop 1.
    expect(
      await ids({ must: [nested({ must: [keyword("name", "Bonn"), field("pop", { range: { gte: 2 } })] })] }),
    ).toEqual([]);
    expect(
      await ids({ must: [nested({ must: [keyword("name", "Berlin"), field("pop", { range: { gte: 2 } })] })] }),
    ).toEqual(["4"]);
  });

  it("rejects a field condition without any condition (lib/api/src/grpc/validate.rs)", async () => {
    let error: ConnectError | undefined;
    try {
      await client.api("points").count({ collectionName: name, filter: { must: [field("city", {})] } as never });
    } catch (e) {
      error = ConnectError.from(e);
    }
    expect(error?.code).toBe(Code.InvalidArgument);
    expect(error?.rawMessage).toContain("At least one field condition must be specified");
  });
});

describe("filters through payload indexes", () => {
  it("answer keyword and integer conditions from the indexed values, kept up to date on overwrite", async () => {
    const coll = uniqueName("indexed");
    await seed(coll);
    for (const [fieldName, fieldType] of [
      ["city", 0],
      ["tags", 0],
      ["n", 1],
    ] as const) {
      await client.api("points").createFieldIndex({ collectionName: coll, fieldName, fieldType, wait: true });
    }
    const on = (filter: Record<string, unknown>) => idsIn(coll, filter);
    expect(await on({ must: [keyword("city", "Berlin")] })).toEqual(["1", "3"]);
    expect(await on({ must: [keyword("tags", "b"), keyword("city", "London")] })).toEqual(["2"]);
    // With an integer index the condition is answered from the index, which holds point 3's double
    // 5.0 as the integer 5 (lib/segment/src/index/field_index/utils.rs `value_to_integer`, used by
    // map_index/value_indexer_impl.rs and numeric_index/value_indexer.rs; the index's checker is
    // preferred over the payload in struct_payload_index/read_view/condition_converter.rs
    // `field_condition_checker`). Without the index the same filter gives ["1"] (see above).
    expect(await on({ must: [field("n", { match: { matchValue: { case: "integer", value: 5n } } })] })).toEqual([
      "1",
      "3",
    ]);
    expect(
      await on({ must: [field("n", { match: { matchValue: { case: "integers", value: { integers: [5n, 11n] } } } })] }),
    ).toEqual(["1", "3"]);
    expect(
      await on({
        must: [
          field("city", { match: { matchValue: { case: "keywords", value: { strings: ["London", "Moscow"] } } } }),
        ],
      }),
    ).toEqual(["2", "3"]);
    // must_not on indexed fields beside an indexed must (query_checker.rs: none of must_not may match),
    // the integer index again holding point 3's 5.0 as 5.
    expect(await on({ must: [keyword("tags", "b")], mustNot: [keyword("city", "Berlin")] })).toEqual(["2"]);
    expect(await on({ must: [keyword("city", "Berlin")], mustNot: [keyword("city", "Moscow")] })).toEqual(["1"]);
    expect(
      await on({
        must: [keyword("city", "Berlin")],
        mustNot: [field("n", { match: { matchValue: { case: "integer", value: 5n } } })],
      }),
    ).toEqual([]);
    expect(
      await on({
        must: [keyword("tags", "b")],
        mustNot: [{ conditionOneOf: { case: "isEmpty", value: { key: "note" } } }],
      }),
    ).toEqual(["1"]);
    // Index maintenance on update.
    await client.api("points").overwritePayload({
      collectionName: coll,
      wait: true,
      payload: { city: str("Paris") },
      pointsSelector: { pointsSelectorOneOf: { case: "points", value: { ids: [num(1)] } } },
    });
    expect(await on({ must: [keyword("city", "Berlin")] })).toEqual(["3"]);
    expect(await on({ must: [keyword("city", "Paris")] })).toEqual(["1"]);
    expect(await on({ must: [field("n", { match: { matchValue: { case: "integer", value: 5n } } })] })).toEqual(["3"]);
    await client.api("collections").delete({ collectionName: coll });
  });
});

describe("Euclid scores and thresholds", () => {
  it("returns distances and keeps points closer than score_threshold (Distance::check_threshold)", async () => {
    const r = await client
      .api("points")
      .search({ collectionName: name, vector: [0, 0], limit: 10n, scoreThreshold: 1.5 });
    expect(r.result.map(idOf).sort()).toEqual(["1", "2", "3"]);
    const three = r.result.find((p) => idOf(p) === "3")!;
    expect(three.score).toBeCloseTo(Math.SQRT2, 5);
    expect(r.result.at(-1)!.score).toBeCloseTo(Math.SQRT2, 5); // smallest distance first
  });
});

describe("Facet (lib/segment/src/data_types/facets.rs)", () => {
  it("counts points per value of an indexed field, largest first, ties by value ascending", async () => {
    const coll = uniqueName("facet");
    await seed(coll);
    for (const [fieldName, fieldType] of [
      ["city", 0],
      ["tags", 0],
      ["n", 1],
    ] as const) {
      await client.api("points").createFieldIndex({ collectionName: coll, fieldName, fieldType, wait: true });
    }
    const hits = (r: { hits: { value?: { variant: { value?: unknown } }; count: bigint }[] }) =>
      r.hits.map((h) => [h.value?.variant.value, h.count]);
    // city: Berlin on points 1 and 3, London on 2, Moscow on 3. `Ord for FacetHit`: count descending,
    // then the value ascending.
    const city = await client.api("points").facet({ collectionName: coll, key: "city", exact: true });
    expect(hits(city)).toEqual([
      ["Berlin", 2n],
      ["London", 1n],
      ["Moscow", 1n],
    ]);
    const tags = await client.api("points").facet({ collectionName: coll, key: "tags", exact: true, limit: 1n });
    expect(hits(tags)).toEqual([["b", 2n]]);
    const london = await client
      .api("points")
      .facet({ collectionName: coll, key: "tags", exact: true, filter: { must: [keyword("city", "London")] } });
    expect(hits(london)).toEqual([["b", 1n]]);
    const moscow = await client
      .api("points")
      .facet({ collectionName: coll, key: "tags", exact: true, filter: { must: [keyword("city", "Moscow")] } });
    expect(moscow.hits).toEqual([]);
    // The integer index holds point 3's double 5.0 as 5 (field_index/utils.rs `value_to_integer`).
    const ints = await client.api("points").facet({ collectionName: coll, key: "n", exact: true });
    expect(hits(ints)).toEqual([
      [5n, 2n],
      [10n, 1n],
    ]);
    await client.api("collections").delete({ collectionName: coll });
  });
});

describe("full-text match with and without a text index", () => {
  it("tests case-sensitive substrings without an index and lower-cased word tokens with one", async () => {
    const coll = uniqueName("text");
    created.push(coll);
    await client.api("collections").create({
      collectionName: coll,
      vectorsConfig: { config: { case: "params", value: { size: 2n, distance: Distance.Euclid } } },
    });
    await client.api("points").upsert({
      collectionName: coll,
      wait: true,
      points: [
        point(1, [1, 0], { note: str("hello big world") }),
        point(7, [5, 5], { note: str("Hello, big World!") }),
      ],
    });
    const on = (filter: Record<string, unknown>) => idsIn(coll, filter);
    const text = (value: string) => ({ must: [field("note", { match: { matchValue: { case: "text", value } } })] });
    const textAny = (value: string) => ({
      must: [field("note", { match: { matchValue: { case: "textAny", value } } })],
    });
    // No index: `stored.contains(text)` per string, and text_any any whitespace-separated piece
    // (lib/segment/src/payload_storage/condition_checker.rs, `ValueChecker for Match`).
    expect(await on(text("big World"))).toEqual(["7"]);
    expect(await on(text("World big"))).toEqual([]);
    expect(await on(text("hello"))).toEqual(["1"]);
    expect(await on(textAny("moon World"))).toEqual(["7"]);
    // With a text index (default `word` tokenizer, lower-cased: lib/segment/src/data_types/index.rs
    // TextIndexParams), the index checks the tokens (full_text_index/read_ops.rs
    // `special_check_condition`): every query token for `text`, any for `text_any`.
    await client.api("points").createFieldIndex({ collectionName: coll, fieldName: "note", fieldType: 4, wait: true });
    expect(await on(text("World big"))).toEqual(["1", "7"]);
    expect(await on(text("hello"))).toEqual(["1", "7"]);
    expect(await on(text("hello moon"))).toEqual([]);
    expect(await on(textAny("moon world"))).toEqual(["1", "7"]);
    await client.api("collections").delete({ collectionName: coll });
  });
});

describe("datetime ranges (conversions.rs DatetimeRange, condition_checker.rs Range<DateTimePayloadType>)", () => {
  it("compares RFC 3339 payload strings with timestamp bounds", async () => {
    const coll = uniqueName("datetime");
    created.push(coll);
    await client.api("collections").create({
      collectionName: coll,
      vectorsConfig: { config: { case: "params", value: { size: 2n, distance: Distance.Euclid } } },
    });
    await client.api("points").upsert({
      collectionName: coll,
      wait: true,
      points: [
        point(8, [6, 6], { at: str("2024-01-02T10:00:00Z") }),
        point(9, [7, 7], { at: str("2023-12-31T23:59:59Z") }),
      ],
    });
    const seconds = BigInt(Date.parse("2024-01-01T00:00:00Z") / 1000);
    const r = await idsIn(coll, { must: [field("at", { datetimeRange: { gte: { seconds, nanos: 0 } } })] });
    expect(r).toEqual(["8"]);
    const before = await idsIn(coll, { must: [field("at", { datetimeRange: { lt: { seconds, nanos: 0 } } })] });
    expect(before).toEqual(["9"]);
    await client.api("collections").delete({ collectionName: coll });
  });
});
