import OpenAI from "openai";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { FailedPreconditionError, InvalidArgumentError } from "../../../src/core/errors.js";
import {
  OPENAI_LIMITS,
  createOpenAIEmbedder,
  planBatches,
  retryDelayMs,
} from "../../../src/embedders/openai-embedder.js";
import { tokenCounterFor } from "../../../src/embedders/openai-tokenizer.js";

const countTokens = tokenCounterFor("text-embedding-3-large");

describe("cl100k_base token counting", () => {
  it("counts like OpenAI's tokenizer", () => {
    // OpenAI's cookbook: "tiktoken is great!" is 6 cl100k_base tokens.
    expect(countTokens("tiktoken is great!")).toBe(6);
    expect(countTokens("hello world")).toBe(2);
    expect(countTokens("")).toBe(0);
  });

  it("counts special-token text as ordinary text instead of throwing", () => {
    expect(countTokens("<|endoftext|>")).toBeGreaterThan(1);
  });
});

describe("planBatches", () => {
  const limits = { maxInputsPerRequest: 3, maxTokensPerInput: 10, maxTokensPerRequest: 12 };
  const byLength = (text: string): number => text.length;

  it("groups consecutive inputs under both limits", () => {
    const inputs = ["aaaa", "bbbb", "cccc", "dd", "e", "f", "g", "hhhhhhhhhh", "ii"].map((text) => ({ text }));
    const batches = planBatches(inputs, byLength, limits);
    expect(batches.map((b) => b.texts)).toEqual([
      ["aaaa", "bbbb", "cccc"],
      ["dd", "e", "f"],
      ["g", "hhhhhhhhhh"],
      ["ii"],
    ]);
    expect(batches.map((b) => b.start)).toEqual([0, 3, 6, 8]);
    expect(batches.map((b) => b.tokens)).toEqual([12, 4, 11, 2]);
  });

  it("rejects an input over the per-input limit naming its id, or its index", () => {
    expect(() => planBatches([{ text: "a" }, { id: "x-1", text: "a".repeat(11) }], byLength, limits)).toThrow(
      expect.objectContaining({ field: "embeddings[id=x-1].content" }),
    );
    expect(() => planBatches([{ text: "a" }, { text: "a".repeat(11) }], byLength, limits)).toThrow(
      expect.objectContaining({ field: "embeddings[1].content" }),
    );
  });

  it("rejects empty text", () => {
    expect(() => planBatches([{ id: "e", text: "" }], byLength, limits)).toThrow(InvalidArgumentError);
  });

  it("uses the API's limits by default", () => {
    expect(OPENAI_LIMITS).toEqual({ maxInputsPerRequest: 2048, maxTokensPerInput: 8191, maxTokensPerRequest: 300_000 });
  });
});

describe("retryDelayMs", () => {
  const apiError = (headers: Record<string, string>): InstanceType<typeof OpenAI.APIError> =>
    OpenAI.APIError.generate(429, { message: "slow down" }, undefined, new Headers(headers));

  it("honours retry-after-ms, then retry-after in seconds or as a date, capped", () => {
    expect(retryDelayMs(apiError({ "retry-after-ms": "250" }), 0, 500, 30_000)).toBe(250);
    expect(retryDelayMs(apiError({ "retry-after": "2" }), 0, 500, 30_000)).toBe(2000);
    expect(retryDelayMs(apiError({ "retry-after": "3600" }), 0, 500, 30_000)).toBe(30_000);
    // A fixed clock: the header's date is whole seconds, and no time passes between writing and reading it.
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    const retryAt = new Date(now + 5000).toUTCString();
    const date = retryDelayMs(apiError({ "retry-after": retryAt }), 0, 500, 30_000, now);
    expect(date).toBeGreaterThan(3000);
    expect(date).toBeLessThanOrEqual(5000);
  });

  it("backs off exponentially with jitter otherwise", () => {
    for (let attempt = 0; attempt < 4; attempt++) {
      const delay = retryDelayMs(apiError({}), attempt, 100, 30_000);
      expect(delay).toBeGreaterThanOrEqual(0.75 * 100 * 2 ** attempt);
      expect(delay).toBeLessThanOrEqual(100 * 2 ** attempt);
    }
    expect(retryDelayMs(apiError({}), 20, 100, 1000)).toBeLessThanOrEqual(1000);
  });
});

describe("createOpenAIEmbedder", () => {
  const logger = pino({ level: "silent" });

  it("defaults to text-embedding-3-large at 3072 dimensions and counts real tokens", () => {
    const embedder = createOpenAIEmbedder({ apiKey: "sk-x", logger });
    expect(embedder.name).toBe("openai");
    expect(embedder.model).toBe("text-embedding-3-large");
    expect(embedder.dimensions).toBe(3072);
    expect(embedder.countTokens("tiktoken is great!")).toBe(6);
  });

  it("needs an API key", () => {
    expect(() => createOpenAIEmbedder({ apiKey: "", logger })).toThrow(FailedPreconditionError);
  });
});
