/**
 * A stable 32-bit string hash (FNV-1a over UTF-16 code units, then murmur3's finalizer so that the
 * low bits are well mixed for `% buckets`). Stable across processes and versions: vectors and sparse
 * term ids stored in Qdrant depend on it, so changing it means re-embedding everything.
 */
export function hash32(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
