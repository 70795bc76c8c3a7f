/**
 * Token counting for OpenAI embedding models (`text-embedding-3-*` and `text-embedding-ada-002` use
 * `cl100k_base`), in time linear in the text.
 *
 * Byte-pair encoding is quadratic (or worse) in the length of one pre-tokenized piece, and cl100k's
 * pre-tokenizer puts a whole run of letters, punctuation or spaces into one piece: 65,536 × "a" is a
 * single piece that takes minutes to encode. So the text is split with the encoding's own pattern
 * first, and a piece longer than `MAX_PIECE_CHARS` is counted in slices of that size. No English word
 * or identifier part comes near that length, so ordinary text counts exactly as the reference BPE
 * does (a test compares them); a long run without spaces may count a few tokens more than the API
 * would, never fewer than one per slice, which is the safe side for budgets.
 *
 * Pieces are handed to the BPE (gpt-tokenizer, which caches common pieces) in segments of about
 * `MAX_SEGMENT_CHARS`, cut between pieces: the pattern matches a segment exactly as it matched the
 * whole text there (its only look-ahead, `\s+(?!\S)`, also holds at the end of a segment).
 */
import { countTokens as bpeCount } from "gpt-tokenizer/encoding/cl100k_base";

export type TokenCounter = (text: string, limit?: number) => number;

/** cl100k_base's pre-tokenizer pattern (as published with the encoding). */
const CL100K_PATTERN =
  /(?:'s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

export const MAX_PIECE_CHARS = 64;
const MAX_SEGMENT_CHARS = 1024;
/** Special-token strings such as `<|endoftext|>` are ordinary user text for the embeddings API. */
const AS_TEXT = { disallowedSpecial: new Set<string>() };

/**
 * The token counter for `model`. Every current OpenAI embedding model uses cl100k_base, so it is
 * also the answer for models this code does not know yet.
 */
export function tokenCounterFor(_model: string): TokenCounter {
  return countCl100kTokens;
}

/**
 * Tokens of `text` in cl100k_base. With `limit`, counting stops as soon as the count exceeds it (the
 * result is then some number above `limit`): checking a budget costs at most the budget.
 */
export function countCl100kTokens(text: string, limit = Number.POSITIVE_INFINITY): number {
  // Every token is at least one UTF-8 byte, and a string has at most 3 bytes per UTF-16 unit.
  if (text.length === 0) return 0;
  let tokens = 0;
  let segmentStart = 0;
  const pattern = new RegExp(CL100K_PATTERN);
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    const start = match.index;
    const end = start + match[0].length;
    if (end - start > MAX_PIECE_CHARS) {
      if (start > segmentStart) tokens += bpeCount(text.slice(segmentStart, start), AS_TEXT);
      tokens += countLongPiece(match[0]);
      segmentStart = end;
    } else if (end - segmentStart >= MAX_SEGMENT_CHARS) {
      tokens += bpeCount(text.slice(segmentStart, end), AS_TEXT);
      segmentStart = end;
    } else {
      continue;
    }
    if (tokens > limit) return tokens;
  }
  if (segmentStart < text.length) tokens += bpeCount(text.slice(segmentStart), AS_TEXT);
  return tokens;
}

function countLongPiece(piece: string): number {
  let tokens = 0;
  for (let start = 0; start < piece.length;) {
    let end = Math.min(start + MAX_PIECE_CHARS, piece.length);
    // Never cut a surrogate pair in two.
    const unit = piece.charCodeAt(end - 1);
    if (end < piece.length && unit >= 0xd800 && unit <= 0xdbff) end--;
    tokens += bpeCount(piece.slice(start, end), AS_TEXT);
    start = end;
  }
  return tokens;
}
