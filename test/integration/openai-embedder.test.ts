/**
 * The OpenAI embedder through the real `openai` SDK, over real HTTP, against the fake embeddings
 * server: what the server received is the evidence.
 */
import { randomUUID } from "node:crypto";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  CancelledError,
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  UnavailableError,
} from "../../src/core/errors.js";
import type { Embedder } from "../../src/embedders/embedder.js";
import { createOpenAIEmbedder, type OpenAIEmbedderOptions } from "../../src/embedders/openai-embedder.js";
import { createFakeOpenAIServer, fakeEmbedding } from "../helpers/fake-openai-server.js";

const API_KEY = "sk-test-do-not-leak-0123456789";
const server = createFakeOpenAIServer();
let baseURL: string;

beforeAll(async () => {
  ({ baseURL } = await server.start());
});
afterAll(async () => {
  await server.stop();
});
beforeEach(() => {
  server.reset();
});

function embedder(overrides: Partial<OpenAIEmbedderOptions> = {}): Embedder {
  return createOpenAIEmbedder({
    apiKey: API_KEY,
    baseURL,
    model: "text-embedding-3-small",
    dimensions: 64,
    retryBaseDelayMs: 1,
    logger: pino({ level: "silent" }),
    ...overrides,
  });
}

const texts = (n: number, prefix = "text"): { id: string; text: string }[] =>
  Array.from({ length: n }, (_, i) => ({ id: `id-${i}`, text: `${prefix} number ${i}` }));

function expectL2Normalized(vector: Float32Array): void {
  let sum = 0;
  for (const x of vector) sum += x * x;
  expect(Math.sqrt(sum)).toBeCloseTo(1, 5);
}

describe("OpenAI embedder against a fake embeddings API", () => {
  it("asks for base64 and returns the server's vectors, in input order", async () => {
    const inputs = texts(5);
    const vectors = await embedder().embed(inputs);

    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({
      model: "text-embedding-3-small",
      input: inputs.map((i) => i.text),
      encoding_format: "base64",
      dimensions: 64,
      apiKey: API_KEY,
    });
    expect(vectors).toHaveLength(5);
    vectors.forEach((vector, i) => {
      expect(vector).toBeInstanceOf(Float32Array);
      expect(Array.from(vector)).toEqual(Array.from(fakeEmbedding(inputs[i].text, 64)));
    });
  });

  it("splits at the API's 2048 inputs per request", async () => {
    const inputs = texts(2049);
    const vectors = await embedder().embed(inputs);

    const sizes = server.requests.map((r) => r.input.length).sort((a, b) => b - a);
    expect(sizes).toEqual([2048, 1]);
    expect(server.requests.flatMap((r) => r.input).sort()).toEqual(inputs.map((i) => i.text).sort());
    expect(Array.from(vectors[2048])).toEqual(Array.from(fakeEmbedding(inputs[2048].text, 64)));
    expect(Array.from(vectors[0])).toEqual(Array.from(fakeEmbedding(inputs[0].text, 64)));
  });

  it("splits by input count and by tokens per request, keeping order", async () => {
    const e = embedder({ limits: { maxInputsPerRequest: 3, maxTokensPerRequest: 40 } });
    // 7 short inputs, then 3 inputs of ~25 tokens each (two do not fit in one 40-token request).
    const inputs = [...texts(7, "short"), ...texts(3, "long ".repeat(24).trim())];
    const tokens = inputs.map((i) => e.countTokens(i.text));
    expect(tokens.slice(7).every((t) => t > 20 && t <= 40)).toBe(true);

    const vectors = await e.embed(inputs);

    for (const request of server.requests) {
      expect(request.input.length).toBeLessThanOrEqual(3);
      expect(request.input.reduce((sum, text) => sum + e.countTokens(text), 0)).toBeLessThanOrEqual(40);
    }
    // Greedy in order: [3 short] [3 short] [1 short + 1 long] [1 long] [1 long].
    expect(server.requests.map((r) => r.input.length).sort()).toEqual([1, 1, 2, 3, 3]);
    vectors.forEach((vector, i) => {
      expect(Array.from(vector)).toEqual(Array.from(fakeEmbedding(inputs[i].text, 64)));
    });
  });

  it("keeps at most maxConcurrentRequests requests in flight", async () => {
    server.configure({ delayMs: 30 });
    await embedder({ maxConcurrentRequests: 2, limits: { maxInputsPerRequest: 1 } }).embed(texts(8));
    expect(server.requests).toHaveLength(8);
    expect(server.maxInFlight).toBeLessThanOrEqual(2);
  });

  it("retries a 429 after the server's retry-after-ms and succeeds", async () => {
    server.failNext([{ status: 429, retryAfterMs: 10 }]);
    const inputs = texts(2);
    const slowBackoff = { retryBaseDelayMs: 600_000, retryMaxDelayMs: 600_000 };
    const vectors = await embedder({ maxRetries: 2, ...slowBackoff }).embed(inputs);

    // The 10-minute backoff would time the test out: only retry-after-ms can have set the wait.
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1].input).toEqual(server.requests[0].input);
    expect(Array.from(vectors[1])).toEqual(Array.from(fakeEmbedding(inputs[1].text, 64)));
  }, 15_000);

  it("honours retry-after in seconds", async () => {
    server.failNext([{ status: 429, retryAfterSeconds: 0.01 }]);
    await embedder({ maxRetries: 1, retryBaseDelayMs: 600_000, retryMaxDelayMs: 600_000 }).embed(texts(1));
    expect(server.requests).toHaveLength(2);
  }, 15_000);

  it("retries 5xx with backoff, then succeeds", async () => {
    server.failNext([{ status: 500 }, { status: 503 }]);
    const vectors = await embedder({ maxRetries: 2 }).embed(texts(1));
    expect(server.requests).toHaveLength(3);
    expect(vectors).toHaveLength(1);
  });

  it("gives up on a server that keeps failing with UnavailableError", async () => {
    server.failAlways(500);
    const error = await embedder({ maxRetries: 3 })
      .embed(texts(1))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).dependency).toBe("openai");
    expect((error as Error).message).toContain("500");
    expect(server.requests).toHaveLength(4);
  });

  it("maps an unreachable server to UnavailableError", async () => {
    const down = createFakeOpenAIServer();
    const { baseURL: deadURL } = await down.start();
    await down.stop();
    const error = await embedder({ baseURL: deadURL, maxRetries: 1 })
      .embed(texts(1))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
  });

  it("rejects an input over 8191 tokens with InvalidArgumentError naming its id, sending nothing", async () => {
    const id = randomUUID();
    const e = embedder();
    const long = "hello ".repeat(9000);
    expect(e.countTokens(long)).toBeGreaterThan(8191);

    const error = await e
      .embed([
        { id: "ok", text: "fine" },
        { id, text: long },
      ])
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe(`embeddings[id=${id}].content`);
    expect((error as Error).message).toContain("8191");
    expect(server.requests).toHaveLength(0);
  });

  it("accepts an input of exactly the per-input limit", async () => {
    const e = embedder();
    const text = "hello ".repeat(8190);
    expect(e.countTokens(text)).toBeLessThanOrEqual(8191);
    await e.embed([{ text }]);
    expect(server.requests).toHaveLength(1);
  });

  it("sends dimensions to text-embedding-3 models", async () => {
    const vectors = await embedder({ model: "text-embedding-3-large", dimensions: 256 }).embed(texts(1));
    expect(server.requests[0].dimensions).toBe(256);
    expect(vectors[0]).toHaveLength(256);
  });

  it("does not send dimensions to text-embedding-ada-002", async () => {
    const vectors = await embedder({ model: "text-embedding-ada-002", dimensions: 1536 }).embed(texts(1));
    expect(server.requests[0]).not.toHaveProperty("dimensions");
    expect(server.requests[0].model).toBe("text-embedding-ada-002");
    expect(vectors[0]).toHaveLength(1536);
  });

  it("refuses ada-002 at a dimension it cannot produce", () => {
    expect(() => embedder({ model: "text-embedding-ada-002", dimensions: 3072 })).toThrow(FailedPreconditionError);
  });

  it("fails with FailedPreconditionError when the model returns another dimension", async () => {
    server.configure({ forceDimensions: 100 });
    const error = await embedder({ model: "text-embedding-3-large", dimensions: 3072 })
      .embed(texts(1))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FailedPreconditionError);
    expect((error as Error).message).toContain("text-embedding-3-large");
    expect((error as Error).message).toContain("3072");
  });

  it("re-normalizes vectors that are not unit length", async () => {
    server.configure({ scale: 3 });
    const [vector] = await embedder().embed(texts(1));
    expectL2Normalized(vector);
  });

  it("decodes plain float arrays too", async () => {
    // A server (or proxy) that ignores encoding_format and answers with JSON arrays.
    server.configure({ floatArrays: true });
    const inputs = texts(2);
    const vectors = await embedder().embed(inputs);
    expect(Array.from(vectors[0])).toEqual(Array.from(fakeEmbedding(inputs[0].text, 64)));
  });

  it("maps 401 to FailedPreconditionError without the key", async () => {
    server.failNext([{ status: 401, message: `Incorrect API key provided` }]);
    const error = await embedder()
      .embed(texts(1))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FailedPreconditionError);
    expect((error as Error).message).toMatch(/OpenAI rejected the API key/);
    expect((error as Error).message).not.toContain(API_KEY);
    expect(server.requests).toHaveLength(1);
  });

  it("maps 400 to InvalidArgumentError without retrying", async () => {
    server.failNext([{ status: 400, message: "bad input" }]);
    const error = await embedder()
      .embed(texts(1))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain("bad input");
    expect(server.requests).toHaveLength(1);
  });

  it("aborts an in-flight request with CancelledError", async () => {
    server.configure({ delayMs: 30_000 });
    const controller = new AbortController();
    const pending = embedder()
      .embed(texts(1), { signal: controller.signal })
      .catch((e: unknown) => e);
    await until(() => server.requests.length === 1);
    controller.abort();

    const error = await pending;
    expect(error).toBeInstanceOf(CancelledError);
  });

  it("aborts a retry wait with CancelledError", async () => {
    server.failAlways(503, { retryAfterMs: 30_000 });
    const controller = new AbortController();
    const pending = embedder({ maxRetries: 5 })
      .embed(texts(1), { signal: controller.signal })
      .catch((e: unknown) => e);
    await until(() => server.requests.length === 1);
    controller.abort();

    expect(await pending).toBeInstanceOf(CancelledError);
    expect(server.requests).toHaveLength(1);
  });

  it("reports a timed-out caller signal as DeadlineExceededError and sends nothing", async () => {
    const signal = AbortSignal.abort(new DOMException("deadline", "TimeoutError"));
    const error = await embedder()
      .embed(texts(1), { signal })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(server.requests).toHaveLength(0);
  });

  it("maps an attempt timeout to UnavailableError after retries", async () => {
    server.configure({ delayMs: 30_000 });
    const error = await embedder({ timeoutMs: 50, maxRetries: 1 })
      .embed(texts(1))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toMatch(/timed out/);
    expect(server.requests).toHaveLength(2);
  });
});

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}
