/**
 * What the core needs from an embedding model. Two implementations: `openai-embedder` (the OpenAI
 * embeddings API) and `local-embedder` (deterministic feature hashing, no network).
 */

export interface EmbedInput {
  /** Names the input in error messages (e.g. the embedding's id); the index is used when absent. */
  id?: string;
  text: string;
}

export interface EmbedOptions {
  /** Aborting rejects the call with `CancelledError` (or `DeadlineExceededError` for a timeout reason). */
  signal?: AbortSignal;
}

export interface Embedder {
  readonly name: "openai" | "local";
  readonly model: string;
  readonly dimensions: number;
  /** One Float32Array per input, in order, of length `dimensions`, L2-normalized. */
  embed(inputs: readonly EmbedInput[], options?: EmbedOptions): Promise<Float32Array[]>;
  /** Tokens an input costs (real tokenizer for OpenAI; the same counting for local so budgets match). */
  countTokens(text: string): number;
}
