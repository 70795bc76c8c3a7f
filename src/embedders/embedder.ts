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

/**
 * The vectors of one `embed` call, one per input, in order, with the call's token usage attached:
 * callers account for tokens from here instead of tokenizing every text a second time.
 */
export type Embeddings = Float32Array[] & { readonly tokens: number };

export function withTokens(vectors: Float32Array[], tokens: number): Embeddings {
  return Object.assign(vectors, { tokens });
}

export interface Embedder {
  readonly name: "openai" | "local";
  readonly model: string;
  readonly dimensions: number;
  /**
   * The best cosine a question's vector must reach among a catalog's chunks for retrieval to count the
   * context as relevant (below it, `insufficient_context`). A property of the model's similarity scale,
   * calibrated on held-out questions asked of catalogs they are not about.
   */
  readonly relevanceFloor: number;
  /**
   * One Float32Array per input, in order, of length `dimensions`, L2-normalized, with the cl100k
   * tokens the inputs cost. Long texts are tokenized (and, locally, embedded) off the event loop.
   */
  embed(inputs: readonly EmbedInput[], options?: EmbedOptions): Promise<Embeddings>;
  /**
   * Tokens a text costs (real tokenizer for OpenAI; the same counting for local so budgets match),
   * in time linear in the text. With `limit`, counting stops once the count exceeds it: a budget
   * check costs at most the budget. Runs on the caller's thread: for short texts and budget checks.
   */
  countTokens(text: string, limit?: number): number;
}
