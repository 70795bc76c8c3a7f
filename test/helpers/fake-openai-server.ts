/**
 * A local HTTP server that speaks the part of the OpenAI API the service uses: `POST /v1/embeddings`.
 * Tests point the real `openai` SDK at it (`baseURL`), then assert what it received.
 *
 * - Vectors are deterministic functions of the input text (and the requested dimensions), unit
 *   length, returned as base64 little-endian float32 when `encoding_format: "base64"`, else arrays.
 * - Every request body is recorded, failed ones included, in arrival order.
 * - Faults are scripted: `failNext([...])` answers the next requests with the given faults, in
 *   order, then behaves; `failAlways(status)` fails every request until `reset()`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedEmbeddingsRequest {
  model: string;
  input: string[];
  dimensions?: number;
  encoding_format?: string;
  /** The bearer token the request carried. */
  apiKey?: string;
}

export interface Fault {
  status: number;
  /** Sent as `retry-after-ms`. */
  retryAfterMs?: number;
  /** Sent as `retry-after` (seconds). */
  retryAfterSeconds?: number;
  /** Error message in the OpenAI error body. */
  message?: string;
  /** Wait this long before answering (to test aborts and timeouts). */
  delayMs?: number;
}

export interface FakeOpenAIServerOptions {
  /** Vector size for models that do not take `dimensions` (ada-002) or requests without it. */
  defaultDimensions?: number;
  /** Answer with this many floats regardless of the request (to test a dimension mismatch). */
  forceDimensions?: number;
  /** Scale the vectors by this factor (to test re-normalization). */
  scale?: number;
  /** Answer with JSON float arrays even when base64 was asked for (some proxies do). */
  floatArrays?: boolean;
  /** Delay every successful answer by this many milliseconds. */
  delayMs?: number;
}

export interface FakeOpenAIServer {
  start(): Promise<{ baseURL: string }>;
  stop(): Promise<void>;
  readonly requests: RecordedEmbeddingsRequest[];
  /** The next `faults.length` requests get these answers, in order; then normal service. */
  failNext(faults: readonly Fault[]): void;
  /** Every request fails with `status` until `reset()`. */
  failAlways(status: number, fault?: Omit<Fault, "status">): void;
  /** Forget recorded requests, faults and option overrides set with `configure`. */
  reset(): void;
  configure(options: FakeOpenAIServerOptions): void;
  /** Requests being handled right now, and the most at once since the last reset. */
  readonly inFlight: number;
  readonly maxInFlight: number;
}

/** The vector the fake returns for `text`: deterministic, unit length. */
export function fakeEmbedding(text: string, dimensions: number): Float32Array {
  const vector = new Float32Array(dimensions);
  let state = 2166136261;
  for (let i = 0; i < text.length; i++) state = Math.imul(state ^ text.charCodeAt(i), 16777619) >>> 0;
  let sum = 0;
  for (let i = 0; i < dimensions; i++) {
    // xorshift32 seeded by the text's FNV-1a hash
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    vector[i] = state / 0xffffffff - 0.5;
    sum += vector[i] * vector[i];
  }
  const scale = 1 / Math.sqrt(sum);
  for (let i = 0; i < dimensions; i++) vector[i] *= scale;
  return vector;
}

export function createFakeOpenAIServer(initial: FakeOpenAIServerOptions = {}): FakeOpenAIServer {
  const requests: RecordedEmbeddingsRequest[] = [];
  let faults: Fault[] = [];
  let always: Fault | undefined;
  let options: FakeOpenAIServerOptions = { ...initial };
  let inFlight = 0;
  let maxInFlight = 0;
  let server: Server | undefined;
  const sockets = new Set<import("node:net").Socket>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST" || !req.url?.startsWith("/v1/embeddings")) {
      return sendError(res, 404, `no route ${req.method} ${req.url}`, "invalid_request_error");
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
    } catch {
      return sendError(res, 400, "request body is not JSON", "invalid_request_error");
    }
    const input = typeof body.input === "string" ? [body.input] : (body.input as string[]);
    const auth = req.headers.authorization;
    requests.push({
      model: body.model as string,
      input,
      ...(body.dimensions !== undefined ? { dimensions: body.dimensions as number } : {}),
      ...(body.encoding_format !== undefined ? { encoding_format: body.encoding_format as string } : {}),
      ...(auth?.startsWith("Bearer ") ? { apiKey: auth.slice("Bearer ".length) } : {}),
    });

    const fault = faults.shift() ?? always;
    if (fault) {
      if (fault.delayMs) await delay(fault.delayMs, res);
      const headers: Record<string, string> = {};
      if (fault.retryAfterMs !== undefined) headers["retry-after-ms"] = String(fault.retryAfterMs);
      if (fault.retryAfterSeconds !== undefined) headers["retry-after"] = String(fault.retryAfterSeconds);
      return sendError(res, fault.status, fault.message ?? `injected fault ${fault.status}`, "server_error", headers);
    }
    if (!Array.isArray(input) || input.length === 0 || input.some((text) => typeof text !== "string" || text === "")) {
      return sendError(res, 400, "'$.input' is invalid", "invalid_request_error");
    }
    if (options.delayMs) await delay(options.delayMs, res);

    const dimensions =
      options.forceDimensions ?? (body.dimensions as number | undefined) ?? options.defaultDimensions ?? 1536;
    const base64 = body.encoding_format === "base64" && !options.floatArrays;
    const data = input.map((text, index) => {
      const vector = fakeEmbedding(text, dimensions);
      if (options.scale !== undefined) for (let i = 0; i < vector.length; i++) vector[i] *= options.scale;
      return {
        object: "embedding",
        index,
        embedding: base64
          ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString("base64")
          : Array.from(vector),
      };
    });
    // Roughly one token per 4 characters, enough for a usage block.
    const promptTokens = input.reduce((sum, text) => sum + Math.max(1, Math.ceil(text.length / 4)), 0);
    sendJson(res, 200, {
      object: "list",
      data,
      model: body.model,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    });
  }

  return {
    requests,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    failNext(next) {
      faults.push(...next);
    },
    failAlways(status, fault) {
      always = { ...fault, status };
    },
    reset() {
      requests.length = 0;
      faults = [];
      always = undefined;
      options = { ...initial };
      maxInFlight = inFlight;
    },
    configure(next) {
      options = { ...options, ...next };
    },
    async start() {
      server = createServer((req, res) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        res.on("close", () => inFlight--);
        handle(req, res).catch((error: unknown) => {
          if (!res.headersSent) sendError(res, 500, String(error), "server_error");
        });
      });
      server.on("connection", (socket) => {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as AddressInfo;
      return { baseURL: `http://127.0.0.1:${port}/v1` };
    },
    async stop() {
      if (!server) return;
      const closing = new Promise<void>((resolve) => server!.close(() => resolve()));
      // Keep-alive sockets would hold close() open.
      for (const socket of sockets) socket.destroy();
      await closing;
      server = undefined;
    },
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  type: string,
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, { error: { message, type, param: null, code: null } }, headers);
}

/** Waits, but gives up early when the client goes away (an aborted request). */
function delay(ms: number, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    res.once("close", done);
    function done(): void {
      clearTimeout(timer);
      res.off("close", done);
      resolve();
    }
  });
}
