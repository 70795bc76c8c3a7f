/**
 * Token counting for OpenAI embedding models with the real BPE (js-tiktoken, ranks bundled in the
 * package: no download). `text-embedding-3-*` and `text-embedding-ada-002` use `cl100k_base`.
 *
 * The rank table is ~5 MB of JavaScript; it is loaded on first use, not when this module is
 * imported, so a service running the local embedder never pays for it.
 */
import { createRequire } from "node:module";
import { Tiktoken, type TiktokenBPE } from "js-tiktoken/lite";

export type TokenCounter = (text: string) => number;

let cl100k: Tiktoken | undefined;

function cl100kBase(): Tiktoken {
  if (cl100k === undefined) {
    const require = createRequire(import.meta.url);
    const ranks = require("js-tiktoken/ranks/cl100k_base") as TiktokenBPE | { default: TiktokenBPE };
    cl100k = new Tiktoken("default" in ranks ? ranks.default : ranks);
  }
  return cl100k;
}

/**
 * The token counter for `model`. Every current OpenAI embedding model uses cl100k_base, so it is
 * also the answer for models this code does not know yet.
 */
export function tokenCounterFor(_model: string): TokenCounter {
  return countCl100kTokens;
}

/**
 * Tokens of `text` in cl100k_base. Special-token strings such as `<|endoftext|>` are counted as the
 * ordinary text they are: the embeddings API embeds user text, it does not interpret control tokens.
 */
export function countCl100kTokens(text: string): number {
  return cl100kBase().encode(text, [], []).length;
}
