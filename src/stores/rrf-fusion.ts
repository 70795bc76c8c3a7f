/** A candidate as fusion needs it: ties are broken by its content hash, when it has one. */
interface Candidate {
  id: string;
  score: number;
  payload?: { content_hash: string };
}

/**
 * Reciprocal rank fusion of the dense and sparse candidate lists, done by the service instead of by
 * Qdrant's `fusion` query. Qdrant ranks equal scores inside each list arbitrarily (segment layout,
 * arrival order) and RRF turns those ranks into different fused scores, so two catalogs with the same
 * content, or one catalog ingested in another order, could retrieve differently. Here every list is
 * first ordered by score, then by content hash (point ids are per catalog), then by id; each hit at
 * 0-based position p earns 1 / (p + 2) in float32 (Qdrant's default k = 2, reciprocal_rank_fusion.rs),
 * summed over the lists it appears in.
 */
export function fuseRrf<H extends Candidate>(lists: readonly H[][]): H[] {
  const fused = new Map<string, H>();
  for (const list of lists) {
    [...list].sort(byScoreThenContent).forEach((hit, position) => {
      const earned = Math.fround(1 / (position + 2));
      const seen = fused.get(hit.id);
      fused.set(hit.id, { ...hit, ...seen, score: Math.fround((seen?.score ?? 0) + earned) });
    });
  }
  return [...fused.values()].sort(byScoreThenContent);
}

/** Best score first; equal scores by content hash, then point id. */
export function byScoreThenContent(a: Candidate, b: Candidate): number {
  return (
    b.score - a.score ||
    compareText(a.payload?.content_hash ?? "", b.payload?.content_hash ?? "") ||
    compareText(a.id, b.id)
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
