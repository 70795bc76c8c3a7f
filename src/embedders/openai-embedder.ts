/**
 * Embeddings from the OpenAI API through the official SDK.
 *
 * - Inputs are split into requests by the API's limits (inputs and tokens per request, tokens per
 *   input), counted with the model's real tokenizer; an input over the per-input limit is rejected
 *   before anything is sent, naming its id.
 * - At most `maxConcurrentRequests` requests are in flight per embedder, across all callers.
 * - Vectors are asked for as base64 and decoded straight into Float32Arrays.
 * - Retries are ours, not the SDK's: exponential backoff with jitter that honours `retry-after-ms`
 *   and `retry-after`, and a wait that the caller's signal cuts short (the SDK's does not).
 * - Failures become domain errors; neither messages nor logs ever carry the API key.
 */
import { setTimeout as sleep } from "node:timers/promises";
import OpenAI from "openai";
import PQueue from "p-queue";
import type { Logger } from "pino";
import {
  DomainError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  UnavailableError,
} from "../core/errors.js";
import { abortError, throwIfAborted } from "./abort.js";
import { createCpuPool } from "./cpu-pool.js";
import { withTokens, type EmbedInput, type EmbedOptions, type Embedder, type Embeddings } from "./embedder.js";
import { tokenCounterFor } from "./openai-tokenizer.js";
import { LITTLE_ENDIAN } from "../wire/float32.js";

export const DEFAULT_OPENAI_MODEL = "text-embedding-3-large";
export const DEFAULT_OPENAI_DIMENSIONS = 3072;

export interface EmbeddingLimits {
  maxInputsPerRequest: number;
  maxTokensPerInput: number;
  maxTokensPerRequest: number;
}

/** The embeddings API's documented limits. */
export const OPENAI_LIMITS: Readonly<EmbeddingLimits> = {
  maxInputsPerRequest: 2048,
  maxTokensPerInput: 8191,
  maxTokensPerRequest: 300_000,
};

export interface OpenAIEmbedderOptions {
  apiKey: string;
  /** Defaults to `https://api.openai.com/v1`. */
  baseURL?: string;
  /** Defaults to `text-embedding-3-large`. */
  model?: string;
  /** Defaults to 3072. Sent to the API only for `text-embedding-3-*` models, which can shorten. */
  dimensions?: number;
  /** Requests in flight at once for this embedder, across all callers. Defaults to 4. */
  maxConcurrentRequests?: number;
  /** Retries of one request after a connection error, timeout, 408, 409, 429 or 5xx. Defaults to 4. */
  maxRetries?: number;
  /** Time limit of one attempt. Defaults to 60 s. */
  timeoutMs?: number;
  /** First backoff step when the server gives no `retry-after`; doubles per retry. Defaults to 500 ms. */
  retryBaseDelayMs?: number;
  /** Upper bound of any single wait, `retry-after` included. Defaults to 30 s. */
  retryMaxDelayMs?: number;
  /** Lower the API's limits (tests, or a proxy with stricter ones); never raise them. */
  limits?: Partial<EmbeddingLimits>;
  logger: Logger;
}

/** Calibrated on text-embedding-3 models: see `Embedder.relevanceFloor`. */
export const OPENAI_RELEVANCE_FLOOR = 0.2;

export function createOpenAIEmbedder(options: OpenAIEmbedderOptions): Embedder {
  const model = options.model ?? DEFAULT_OPENAI_MODEL;
  const dimensions = options.dimensions ?? DEFAULT_OPENAI_DIMENSIONS;
  const maxConcurrentRequests = options.maxConcurrentRequests ?? 4;
  const maxRetries = options.maxRetries ?? 4;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const retryBaseDelayMs = options.retryBaseDelayMs ?? 500;
  const retryMaxDelayMs = options.retryMaxDelayMs ?? 30_000;
  const limits: EmbeddingLimits = {
    maxInputsPerRequest: Math.min(options.limits?.maxInputsPerRequest ?? Infinity, OPENAI_LIMITS.maxInputsPerRequest),
    maxTokensPerInput: Math.min(options.limits?.maxTokensPerInput ?? Infinity, OPENAI_LIMITS.maxTokensPerInput),
    maxTokensPerRequest: Math.min(options.limits?.maxTokensPerRequest ?? Infinity, OPENAI_LIMITS.maxTokensPerRequest),
  };
  if (!options.apiKey) throw new FailedPreconditionError("OpenAI embedder needs an API key: set OPENAI_API_KEY");
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new FailedPreconditionError(`embedding dimensions must be a positive integer, got ${dimensions}`);
  }
  if (!Number.isInteger(maxConcurrentRequests) || maxConcurrentRequests < 1) {
    throw new FailedPreconditionError(`maxConcurrentRequests must be a positive integer, got ${maxConcurrentRequests}`);
  }
  const canShorten = model.startsWith("text-embedding-3-");
  const fixedDimensions = FIXED_DIMENSIONS[model];
  if (fixedDimensions !== undefined && fixedDimensions !== dimensions) {
    throw new FailedPreconditionError(
      `model ${model} returns ${fixedDimensions} dimensions and cannot shorten them; set the embedding dimensions to ${fixedDimensions} or use a text-embedding-3 model`,
    );
  }

  const logger = options.logger.child({ component: "openai-embedder", model });
  const countTokens = tokenCounterFor(model);
  // One queue per embedder: its requests in flight are bounded across all callers.
  const requests = new PQueue({ concurrency: maxConcurrentRequests });
  const cpu = createCpuPool();
  const client = new OpenAI({
    apiKey: options.apiKey,
    baseURL: options.baseURL ?? "https://api.openai.com/v1",
    // Never from the environment: configuration is read in one place.
    organization: null,
    project: null,
    maxRetries: 0,
    timeout: timeoutMs,
    logLevel: "off",
  });

  async function embedBatch(batch: EmbeddingBatch, signal: AbortSignal): Promise<Float32Array[]> {
    for (let attempt = 0; ; attempt++) {
      let response: EmbeddingsResponse;
      try {
        throwIfAborted(signal);
        response = await client.embeddings.create(
          {
            model,
            input: batch.texts,
            encoding_format: "base64",
            ...(canShorten ? { dimensions } : {}),
          },
          { signal },
        );
      } catch (error) {
        if (signal.aborted) throw abortError(signal, "embedding request");
        const retryable = isRetryable(error);
        if (!retryable || attempt >= maxRetries) throw toDomainError(error, { model, attempts: attempt + 1 });
        const delayMs = retryDelayMs(error, attempt, retryBaseDelayMs, retryMaxDelayMs);
        logger.warn(
          { status: statusOf(error), attempt: attempt + 1, delayMs, inputs: batch.texts.length },
          "embeddings request failed; retrying",
        );
        await sleep(delayMs, undefined, { signal }).catch(() => {
          throw abortError(signal, "embedding request");
        });
        continue;
      }
      logger.debug(
        {
          inputs: batch.texts.length,
          tokens: batch.tokens,
          promptTokens: response.usage?.prompt_tokens,
          attempts: attempt + 1,
        },
        "embeddings request succeeded",
      );
      return decodeResponse(response, batch.texts.length, model, dimensions);
    }
  }

  return {
    name: "openai",
    model,
    dimensions,
    relevanceFloor: OPENAI_RELEVANCE_FLOOR,
    countTokens,
    async embed(inputs: readonly EmbedInput[], embedOptions?: EmbedOptions): Promise<Embeddings> {
      const callerSignal = embedOptions?.signal;
      throwIfAborted(callerSignal);
      if (inputs.length === 0) return withTokens([], 0);
      // Each text is tokenized once, off the loop when long, cut short past the per-input limit.
      const counts = await cpu.countTokens(
        inputs.map((input) => input.text),
        limits.maxTokensPerInput,
      );
      throwIfAborted(callerSignal);
      const batches = planBatches(inputs, (_text, index) => counts[index], limits);

      // One failed batch stops the others: the caller gets that failure, not a pile of them.
      const stop = new AbortController();
      const signal = callerSignal ? AbortSignal.any([callerSignal, stop.signal]) : stop.signal;
      const results: Float32Array[] = new Array(inputs.length);
      let firstFailure: { error: unknown } | undefined;
      await Promise.all(
        batches.map(async (batch) => {
          try {
            // A batch still waiting for a slot leaves the queue when the signal aborts.
            const vectors = await requests.add(() => embedBatch(batch, signal), { signal });
            for (let i = 0; i < vectors.length; i++) results[batch.start + i] = vectors[i];
          } catch (error) {
            if (firstFailure === undefined) {
              firstFailure = { error };
              stop.abort();
            }
          }
        }),
      );
      if (callerSignal?.aborted) throw abortError(callerSignal, "embedding request");
      if (firstFailure !== undefined) throw firstFailure.error;
      return withTokens(
        results,
        batches.reduce((sum, batch) => sum + batch.tokens, 0),
      );
    },
  };
}

/** Models whose output size is fixed (they reject a `dimensions` parameter). */
const FIXED_DIMENSIONS: Readonly<Record<string, number>> = {
  "text-embedding-ada-002": 1536,
};

export interface EmbeddingBatch {
  /** Index of the batch's first input in the caller's array. */
  start: number;
  texts: string[];
  tokens: number;
}

/**
 * Consecutive inputs grouped so that no request exceeds the API's input and token limits. Inputs are
 * checked first, all of them, so nothing is sent for a call that would fail part-way.
 */
export function planBatches(
  inputs: readonly EmbedInput[],
  countTokens: (text: string, index: number) => number,
  limits: Readonly<EmbeddingLimits>,
): EmbeddingBatch[] {
  const batches: EmbeddingBatch[] = [];
  let current: EmbeddingBatch | undefined;
  for (let i = 0; i < inputs.length; i++) {
    const { text } = inputs[i];
    if (text.length === 0) {
      throw new InvalidArgumentError(inputField(inputs[i], i), "is empty; the embeddings API needs at least one token");
    }
    const tokens = countTokens(text, i);
    if (tokens > limits.maxTokensPerInput) {
      throw new InvalidArgumentError(
        inputField(inputs[i], i),
        `is more than ${limits.maxTokensPerInput} tokens long; the embedding model accepts at most ${limits.maxTokensPerInput}: split it into smaller chunks`,
      );
    }
    if (
      current === undefined ||
      current.texts.length >= limits.maxInputsPerRequest ||
      current.tokens + tokens > limits.maxTokensPerRequest
    ) {
      current = { start: i, texts: [], tokens: 0 };
      batches.push(current);
    }
    current.texts.push(text);
    current.tokens += tokens;
  }
  return batches;
}

function inputField(input: EmbedInput, index: number): string {
  return input.id === undefined ? `embeddings[${index}].content` : `embeddings[id=${input.id}].content`;
}

interface EmbeddingsResponse {
  data?: Array<{ index?: number; embedding?: unknown }>;
  usage?: { prompt_tokens?: number };
}

function decodeResponse(
  response: EmbeddingsResponse,
  expected: number,
  model: string,
  dimensions: number,
): Float32Array[] {
  const data = response.data;
  if (!Array.isArray(data) || data.length !== expected) {
    throw new UnavailableError(
      "openai",
      `returned ${Array.isArray(data) ? data.length : "no"} embeddings for ${expected} inputs`,
    );
  }
  const vectors: Float32Array[] = new Array(expected);
  for (let i = 0; i < data.length; i++) {
    const item = data[i];
    const index = typeof item.index === "number" ? item.index : i;
    if (!Number.isInteger(index) || index < 0 || index >= expected || vectors[index] !== undefined) {
      throw new UnavailableError("openai", `returned an embedding with an invalid index ${String(item.index)}`);
    }
    const vector = toFloat32(item.embedding);
    if (vector === undefined) {
      throw new UnavailableError("openai", `returned embedding ${index} in an unknown encoding`);
    }
    if (vector.length !== dimensions) {
      throw new FailedPreconditionError(
        `model ${model} returned ${vector.length} dimensions, but the service is configured for ${dimensions}: set the embedding dimensions to what the model returns`,
      );
    }
    normalize(vector, model, index);
    vectors[index] = vector;
  }
  return vectors;
}

function toFloat32(embedding: unknown): Float32Array | undefined {
  if (typeof embedding === "string") {
    const bytes = Buffer.from(embedding, "base64");
    if (bytes.length % 4 !== 0) return undefined;
    const vector = new Float32Array(bytes.length / 4);
    if (LITTLE_ENDIAN) {
      // A copy, not a view: Buffer.from may hand back a slice of a shared pool at any offset.
      new Uint8Array(vector.buffer).set(bytes);
    } else {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < vector.length; i++) vector[i] = view.getFloat32(i * 4, true);
    }
    return vector;
  }
  if (Array.isArray(embedding)) return Float32Array.from(embedding as number[]);
  return undefined;
}

/** OpenAI's vectors come normalized; make sure, since cosine and dot product must agree downstream. */
function normalize(vector: Float32Array, model: string, index: number): void {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i] * vector[i];
  if (!Number.isFinite(sum) || sum === 0) {
    throw new UnavailableError("openai", `model ${model} returned a zero or non-finite vector for input ${index}`);
  }
  if (Math.abs(sum - 1) < 1e-5) return;
  const scale = 1 / Math.sqrt(sum);
  for (let i = 0; i < vector.length; i++) vector[i] *= scale;
}

function statusOf(error: unknown): number | undefined {
  return error instanceof OpenAI.APIError && typeof error.status === "number" ? error.status : undefined;
}

function isRetryable(error: unknown): boolean {
  if (error instanceof OpenAI.APIConnectionError) return true; // includes timeouts
  if (!(error instanceof OpenAI.APIError)) return false;
  const shouldRetry = error.headers?.get("x-should-retry");
  if (shouldRetry === "true") return true;
  if (shouldRetry === "false") return false;
  const status = error.status ?? 0;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** The server's `retry-after-ms` or `retry-after` when given, else exponential backoff with jitter. */
export function retryDelayMs(error: unknown, attempt: number, baseMs: number, maxMs: number, now = Date.now()): number {
  const headers = error instanceof OpenAI.APIError ? error.headers : undefined;
  const retryAfterMs = Number.parseFloat(headers?.get("retry-after-ms") ?? "");
  if (Number.isFinite(retryAfterMs) && retryAfterMs >= 0) return Math.min(retryAfterMs, maxMs);
  const retryAfter = headers?.get("retry-after");
  if (retryAfter) {
    const seconds = Number.parseFloat(retryAfter);
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - now;
    if (Number.isFinite(ms)) return Math.min(Math.max(ms, 0), maxMs);
  }
  const exponential = Math.min(baseMs * 2 ** attempt, maxMs);
  return exponential * (0.75 + Math.random() * 0.25);
}

function toDomainError(error: unknown, context: { model: string; attempts: number }): DomainError {
  if (error instanceof DomainError) return error;
  const tries = context.attempts === 1 ? "1 attempt" : `${context.attempts} attempts`;
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new UnavailableError("openai", `embeddings request timed out (${tries}); try again later`, { cause: error });
  }
  if (error instanceof OpenAI.APIConnectionError) {
    return new UnavailableError("openai", `could not reach the embeddings API (${tries}); try again later`, {
      cause: error,
    });
  }
  if (error instanceof OpenAI.APIError) {
    const status = error.status;
    const detail = apiMessage(error);
    if (status === 401 || status === 403) {
      return new FailedPreconditionError(
        `OpenAI rejected the API key (HTTP ${status}); check OPENAI_API_KEY and the key's access to model ${context.model}`,
        { cause: error },
      );
    }
    if (status === 404) {
      return new FailedPreconditionError(
        `OpenAI does not serve model ${context.model} (HTTP 404); check EMBEDDING_MODEL`,
        { cause: error },
      );
    }
    if (status === 408 || status === 409 || status === 429 || (status !== undefined && status >= 500)) {
      return new UnavailableError("openai", `HTTP ${status} after ${tries}${detail}; try again later`, {
        cause: error,
      });
    }
    if (status !== undefined && status >= 400 && status < 500) {
      return new InvalidArgumentError("embeddings", `OpenAI rejected the request (HTTP ${status})${detail}`);
    }
  }
  return new InternalError("embeddings request failed unexpectedly", { cause: error });
}

function apiMessage(error: InstanceType<typeof OpenAI.APIError>): string {
  const body: unknown = error.error;
  const message =
    typeof body === "object" && body !== null && "message" in body && typeof body.message === "string"
      ? body.message
      : undefined;
  return message ? `: ${message.slice(0, 300)}` : "";
}
