// Named dense + sparse vectors, the Idf modifier and prefetch fusion, as in qdrant/qdrant
// tests/basic_query_grpc_test.sh. Formulas: IDF from lib/segment/src/data_types/query_context.rs
// (`fancy_idf`, used by .../sparse_vector_index/read_view/idf.rs), RRF from
// lib/segment/src/common/reciprocal_rank_fusion.rs, DBSF from lib/segment/src/common/score_fusion.rs.
import {
  ConnectError,
  ConnectErrorCode as Code,
  Distance,
  Fusion,
  Modifier,
  QdrantClient,
} from "@qdrant/js-client-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idOf, num, str } from "./proto.js";
import { startTarget, uniqueName, type Target } from "./target.js";

let target: Target;
let client: QdrantClient;
const name = uniqueName("hybrid");

const dense: Record<number, number[]> = {
  1: [0.9, 0.1, 0.1],
  2: [0.1, 0.9, 0.1],
  3: [0.5, 0.5, 0.1],
  4: [0.1, 0.1, 0.9],
  5: [0.7, 0.3, 0.2],
};
const sparse: Record<number, [number[], number[]]> = {
  1: [
    [1, 7],
    [1.0, 0.5],
  ],
  2: [[7], [2.0]],
  3: [
    [1, 3],
    [0.5, 1.5],
  ],
  4: [
    [3, 9],
    [1.0, 1.0],
  ],
  5: [[9], [0.2]],
};

beforeAll(async () => {
  target = await startTarget();
  client = target.client({ compression: true }); // gzip both ways; points.test.ts runs without
  await client.api("collections").create({
    collectionName: name,
    vectorsConfig: { config: { case: "paramsMap", value: { map: { text: { size: 3n, distance: Distance.Cosine } } } } },
    sparseVectorsConfig: { map: { words: { modifier: Modifier.Idf } } },
  });
  await client.api("points").upsert({
    collectionName: name,
    wait: true,
    points: Object.keys(dense).map((k) => {
      const id = Number(k);
      return {
        id: num(id),
        payload: { group: str(id % 2 === 0 ? "even" : "odd") },
        vectors: {
          vectorsOptions: {
            case: "vectors" as const,
            value: {
              vectors: {
                text: { vector: { case: "dense" as const, value: { data: dense[id] } } },
                words: {
                  vector: { case: "sparse" as const, value: { indices: sparse[id][0], values: sparse[id][1] } },
                },
              },
            },
          },
        },
      };
    }),
  });
});
afterAll(async () => {
  await client.api("collections").delete({ collectionName: name });
  await target.stop();
});

const denseQuery = [0.8, 0.2, 0.1];
const sparseQuery: [number[], number[]] = [
  [1, 3, 7],
  [1.0, 1.0, 1.0],
];
const nearestDense = {
  variant: { case: "nearest" as const, value: { variant: { case: "dense" as const, value: { data: denseQuery } } } },
};
const nearestSparse = {
  variant: {
    case: "nearest" as const,
    value: { variant: { case: "sparse" as const, value: { indices: sparseQuery[0], values: sparseQuery[1] } } },
  },
};

function cosine(a: number[], b: number[]): number {
  const dot = a.reduce((s, x, i) => s + x * b[i], 0);
  return dot / (Math.hypot(...a) * Math.hypot(...b));
}
const idf = (n: number, df: number) => Math.log((n - df + 0.5) / (df + 0.5) + 1);

describe("named and sparse vectors with Idf, prefetch fusion", () => {
  it("scores named dense vectors by cosine", async () => {
    const r = await client.api("points").query({ collectionName: name, query: nearestDense, using: "text", limit: 5n });
    const expected = Object.keys(dense)
      .map((k) => [k, cosine(denseQuery, dense[Number(k)])] as const)
      .sort((a, b) => b[1] - a[1]);
    expect(r.result.map(idOf)).toEqual(expected.map((e) => e[0]));
    r.result.forEach((p, i) => expect(p.score).toBeCloseTo(expected[i][1], 5));
  });

  it("scores sparse vectors with IDF over the collection, finding only overlapping points", async () => {
    const r = await client
      .api("points")
      .query({ collectionName: name, query: nearestSparse, using: "words", limit: 10n });
    const n = 5;
    const df = new Map<number, number>();
    for (const [indices] of Object.values(sparse)) for (const i of indices) df.set(i, (df.get(i) ?? 0) + 1);
    const expected = Object.entries(sparse)
      .map(([k, [indices, values]]) => {
        let score = 0;
        let overlap = false;
        indices.forEach((i, j) => {
          const q = sparseQuery[0].indexOf(i);
          if (q >= 0) {
            overlap = true;
            score += values[j] * sparseQuery[1][q] * idf(n, df.get(i)!);
          }
        });
        return [k, score, overlap] as const;
      })
      .filter((e) => e[2])
      .sort((a, b) => b[1] - a[1]);
    // Points 2 and 3 tie exactly in real numbers (2.0 x idf vs 0.5 x idf + 1.5 x idf); Qdrant sums in
    // float32 and the rounding decides their order (v1.19.0 answers 3 before 2). So: the same points,
    // each with its own expected score, in descending score order; ties in either order.
    expect(r.result.map(idOf).sort()).toEqual(expected.map((e) => e[0]).sort());
    const expectedScore = new Map(expected.map(([id, score]) => [id, score]));
    r.result.forEach((p) => expect(p.score).toBeCloseTo(expectedScore.get(idOf(p))!, 5));
    r.result.forEach((p, i) => expect(p.score).toBeCloseTo(expected[i][1], 5));
    expect(r.result.map(idOf)).not.toContain("5");
  });

  it("fuses prefetches with RRF: sum of 1 / (rank + 2)", async () => {
    const limit = 4n;
    const a = await client.api("points").query({ collectionName: name, query: nearestDense, using: "text", limit });
    const b = await client.api("points").query({ collectionName: name, query: nearestSparse, using: "words", limit });
    const expected = new Map<string, number>();
    for (const list of [a.result, b.result])
      list.forEach((p, rank) => expected.set(idOf(p), (expected.get(idOf(p)) ?? 0) + 1 / (rank + 2)));
    const fused = await client.api("points").query({
      collectionName: name,
      prefetch: [
        { query: nearestDense, using: "text", limit },
        { query: nearestSparse, using: "words", limit },
      ],
      query: { variant: { case: "fusion", value: Fusion.RRF } },
      limit: 10n,
    });
    const want = [...expected].sort((x, y) => y[1] - x[1]);
    const scores = fused.result.map((p) => p.score);
    expect(scores).toEqual([...scores].sort((x, y) => y - x));
    expect(new Set(fused.result.map(idOf))).toEqual(new Set(want.map((w) => w[0])));
    fused.result.forEach((p) => expect(p.score).toBeCloseTo(expected.get(idOf(p))!, 6));
  });

  it("fuses prefetches with RRF weights and k (Rrf message)", async () => {
    const limit = 3n;
    const a = await client.api("points").query({ collectionName: name, query: nearestDense, using: "text", limit });
    const b = await client.api("points").query({ collectionName: name, query: nearestSparse, using: "words", limit });
    const k = 5;
    const weights = [2, 0.5];
    const expected = new Map<string, number>();
    [a.result, b.result].forEach((list, li) =>
      list.forEach((p, rank) =>
        expected.set(idOf(p), (expected.get(idOf(p)) ?? 0) + 1 / ((rank + 1) / weights[li] + k - 1)),
      ),
    );
    const fused = await client.api("points").query({
      collectionName: name,
      prefetch: [
        { query: nearestDense, using: "text", limit },
        { query: nearestSparse, using: "words", limit },
      ],
      query: { variant: { case: "rrf", value: { k, weights } } },
    });
    expect(fused.result).toHaveLength(expected.size);
    fused.result.forEach((p) => expect(p.score).toBeCloseTo(expected.get(idOf(p))!, 6));
  });

  it("fuses prefetches with DBSF: mean ± 3 sample std normalisation, summed", async () => {
    const limit = 4n;
    const a = await client.api("points").query({ collectionName: name, query: nearestDense, using: "text", limit });
    const b = await client.api("points").query({ collectionName: name, query: nearestSparse, using: "words", limit });
    const expected = new Map<string, number>();
    for (const list of [a.result, b.result]) {
      const scores = list.map((p) => p.score);
      const mean = scores.reduce((s, x) => s + x, 0) / scores.length;
      const std = Math.sqrt(scores.reduce((s, x) => s + (x - mean) ** 2, 0) / (scores.length - 1));
      const lo = mean - 3 * std;
      const hi = mean + 3 * std;
      list.forEach((p) => expected.set(idOf(p), (expected.get(idOf(p)) ?? 0) + (p.score - lo) / (hi - lo)));
    }
    const fused = await client.api("points").query({
      collectionName: name,
      prefetch: [
        { query: nearestDense, using: "text", limit },
        { query: nearestSparse, using: "words", limit },
      ],
      query: { variant: { case: "fusion", value: Fusion.DBSF } },
    });
    expect(fused.result).toHaveLength(expected.size);
    fused.result.forEach((p) => expect(p.score).toBeCloseTo(expected.get(idOf(p))!, 5));
    const order = [...expected].sort((x, y) => y[1] - x[1]).map((e) => e[0]);
    expect(fused.result.map(idOf)).toEqual(order);
  });

  it("applies each prefetch's own filter and limit, and rescoring by the root nearest", async () => {
    const odd = {
      must: [
        {
          conditionOneOf: {
            case: "field" as const,
            value: { key: "group", match: { matchValue: { case: "keyword" as const, value: "odd" } } },
          },
        },
      ],
    };
    const r = await client.api("points").query({
      collectionName: name,
      prefetch: [{ query: nearestSparse, using: "words", limit: 2n, filter: odd }],
      query: nearestDense,
      using: "text",
      limit: 10n,
    });
    // Sparse among odd points (1, 3, 5; 5 does not overlap): 1 and 3, then re-ranked by dense cosine.
    expect(r.result.map(idOf)).toEqual(
      cosine(denseQuery, dense[1]) > cosine(denseQuery, dense[3]) ? ["1", "3"] : ["3", "1"],
    );
    expect(r.result[0].score).toBeCloseTo(Math.max(cosine(denseQuery, dense[1]), cosine(denseQuery, dense[3])), 5);
  });

  it("refuses prefetches without a query (collection_query.rs validation)", async () => {
    let error: ConnectError | undefined;
    try {
      await client.api("points").query({ collectionName: name, prefetch: [{ query: nearestDense, using: "text" }] });
    } catch (e) {
      error = ConnectError.from(e);
    }
    expect(error?.code).toBe(Code.InvalidArgument);
    expect(error?.rawMessage).toContain("A query is needed to merge the prefetches");
  });
});

describe("UpdateVectors and DeleteVectors (lib/shard/src/update/vectors.rs)", () => {
  it("replaces only the given named vector, removes named vectors, and refuses unknown points", async () => {
    const coll = uniqueName("vectors");
    await client.api("collections").create({
      collectionName: coll,
      vectorsConfig: {
        config: {
          case: "paramsMap",
          value: { map: { a: { size: 2n, distance: Distance.Dot }, b: { size: 2n, distance: Distance.Dot } } },
        },
      },
    });
    const named = (a: number[], b: number[]) => ({
      vectorsOptions: {
        case: "vectors" as const,
        value: {
          vectors: {
            a: { vector: { case: "dense" as const, value: { data: a } } },
            b: { vector: { case: "dense" as const, value: { data: b } } },
          },
        },
      },
    });
    await client.api("points").upsert({
      collectionName: coll,
      wait: true,
      points: [{ id: num(1), vectors: named([1, 0], [0, 1]), payload: { k: str("v") } }],
    });
    await client.api("points").updateVectors({
      collectionName: coll,
      wait: true,
      points: [
        {
          id: num(1),
          vectors: {
            vectorsOptions: {
              case: "vectors",
              value: { vectors: { a: { vector: { case: "dense", value: { data: [5, 5] } } } } },
            },
          },
        },
      ],
    });
    const vectorsOf = async () => {
      const got = await client.api("points").get({
        collectionName: coll,
        ids: [num(1)],
        withVectors: { selectorOptions: { case: "enable", value: true } },
        withPayload: { selectorOptions: { case: "enable", value: true } },
      });
      const v = got.result[0].vectors?.vectorsOptions;
      const out: Record<string, number[]> = {};
      if (v?.case === "vectors")
        for (const [k, x] of Object.entries(v.value.vectors))
          if (x.vector.case === "dense") out[k] = x.vector.value.data;
      return { vectors: out, payload: Object.keys(got.result[0].payload) };
    };
    expect(await vectorsOf()).toEqual({ vectors: { a: [5, 5], b: [0, 1] }, payload: ["k"] });
    await client.api("points").deleteVectors({
      collectionName: coll,
      wait: true,
      pointsSelector: { pointsSelectorOneOf: { case: "points", value: { ids: [num(1)] } } },
      vectors: { names: ["b"] },
    });
    expect(await vectorsOf()).toEqual({ vectors: { a: [5, 5] }, payload: ["k"] });
    let error: ConnectError | undefined;
    try {
      await client.api("points").updateVectors({
        collectionName: coll,
        wait: true,
        points: [
          {
            id: num(42),
            vectors: {
              vectorsOptions: {
                case: "vectors",
                value: { vectors: { a: { vector: { case: "dense", value: { data: [1, 1] } } } } },
              },
            },
          },
        ],
      });
    } catch (e) {
      error = ConnectError.from(e);
    }
    expect(error?.code).toBe(Code.NotFound);
    expect(error?.rawMessage).toBe("Not found: No point with id 42 found");
    await client.api("collections").delete({ collectionName: coll });
  });
});
