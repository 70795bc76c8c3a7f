import type { Scored, TieBreak } from "./top-k.js";

/**
 * Reciprocal rank fusion as lib/segment/src/common/reciprocal_rank_fusion.rs computes it: a point at
 * 0-based `position` in a list of weight `w` earns 1 / ((position + 1) / w + k - 1) (k = 2 by default,
 * so 1 / (position + 2)); a weight <= 0 earns nothing; sums over lists, in float32 like Qdrant.
 */
export const DEFAULT_RRF_K = 2;

export function rrf(
  lists: readonly Scored[][],
  k = DEFAULT_RRF_K,
  weights?: readonly number[],
  tie: TieBreak = byOffset,
): Scored[] {
  const byOffset = new Map<number, number>();
  lists.forEach((list, li) => {
    const w = Math.fround(weights?.[li] ?? 1);
    list.forEach((hit, position) => {
      const s = w <= 0 ? 0 : Math.fround(1 / Math.fround(Math.fround((position + 1) / w) + k - 1));
      byOffset.set(hit.offset, Math.fround((byOffset.get(hit.offset) ?? 0) + s));
    });
  });
  return sortByScore(byOffset, tie);
}

/**
 * Distribution-based score fusion (lib/segment/src/common/score_fusion.rs, `ScoreFusion::dbsf`): each
 * list is normalised by mean ± 3 sample standard deviations (Welford), a single hit scores 0.5, a
 * list whose bounds coincide scores 0.5 everywhere; the normalised scores are summed per point.
 */
export function dbsf(lists: readonly Scored[][], tie: TieBreak = byOffset): Scored[] {
  const byOffset = new Map<number, number>();
  for (const list of lists) {
    for (const hit of distributionNormalize(list)) {
      byOffset.set(hit.offset, Math.fround((byOffset.get(hit.offset) ?? 0) + hit.score));
    }
  }
  return sortByScore(byOffset, tie);
}

export function distributionNormalize(list: readonly Scored[]): Scored[] {
  if (list.length < 2) return list.map((h) => ({ offset: h.offset, score: 0.5 }));
  let mean = 0;
  let aggregate = 0;
  list.forEach((h, i) => {
    const oldDelta = Math.fround(h.score - mean);
    mean = Math.fround(mean + Math.fround(oldDelta / (i + 1)));
    const delta = Math.fround(h.score - mean);
    aggregate = Math.fround(aggregate + Math.fround(oldDelta * delta));
  });
  const variance = Math.fround(aggregate / (list.length - 1));
  const std = Math.fround(Math.sqrt(variance));
  const min = Math.fround(mean - Math.fround(3 * std));
  const max = Math.fround(mean + Math.fround(3 * std));
  if (min === max) return list.map((h) => ({ offset: h.offset, score: 0.5 }));
  return list.map((h) => ({
    offset: h.offset,
    score: Math.fround(Math.fround(h.score - min) / Math.fround(max - min)),
  }));
}

const byOffset: TieBreak = (a, b) => a - b;

/** Best first; equal fused scores (common: the same rank in two lists) in `tie` order. */
function sortByScore(scores: Map<number, number>, tie: TieBreak): Scored[] {
  return [...scores]
    .map(([offset, score]) => ({ offset, score }))
    .sort((a, b) => b.score - a.score || tie(a.offset, b.offset));
}
