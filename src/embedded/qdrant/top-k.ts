/**
 * Keeps the k best (offset, score) pairs seen so far in a binary min-heap on score. Equal scores are
 * ordered by `tie` (search.ts passes the point-id order), so which of several tied points make the cut,
 * and their order, depend on neither arrival order nor storage offsets. Qdrant orders by score alone
 * (`Ord for ScoredPointOffset` in lib/common/common/src/types.rs) and leaves ties unspecified.
 */
export interface Scored {
  offset: number;
  score: number;
  /** The payload value a point was ordered by (`order_by` queries). */
  orderValue?: bigint | number;
}

/** Orders two offsets whose scores are equal: negative when `a` comes first. */
export type TieBreak = (a: number, b: number) => number;

const byOffset: TieBreak = (a, b) => a - b;

export class TopK {
  private readonly k: number;
  private readonly heap: Scored[] = [];
  private readonly worse: (a: Scored, b: Scored) => boolean;

  constructor(k: number, tie: TieBreak = byOffset) {
    this.k = k;
    this.worse = (a, b) => a.score < b.score || (a.score === b.score && tie(a.offset, b.offset) > 0);
  }

  /** The worst score still kept once full, else -Infinity: a cheap early-out for callers. */
  get floor(): number {
    return this.heap.length < this.k ? -Infinity : this.heap[0].score;
  }

  push(offset: number, score: number): void {
    if (this.k <= 0) return;
    const heap = this.heap;
    const worse = this.worse;
    if (heap.length < this.k) {
      heap.push({ offset, score });
      this.up(heap.length - 1);
    } else if (worse(heap[0], { offset, score })) {
      heap[0] = { offset, score };
      this.down(0);
    }
  }

  /** Best first. */
  sorted(): Scored[] {
    const worse = this.worse;
    return [...this.heap].sort((a, b) => (worse(a, b) ? 1 : worse(b, a) ? -1 : 0));
  }

  private up(i: number): void {
    const heap = this.heap;
    const worse = this.worse;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!worse(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  private down(i: number): void {
    const heap = this.heap;
    const worse = this.worse;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && worse(heap[l], heap[m])) m = l;
      if (r < heap.length && worse(heap[r], heap[m])) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  }
}
