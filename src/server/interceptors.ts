import { timingSafeEqual, createHash } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { Metrics } from "../metrics.js";

/** Counts calls in flight so stop() can drain them. */
export interface InFlight {
  readonly count: number;
  /** Resolves when no call is in flight. */
  idle(): Promise<void>;
}

/**
 * One log line and the go-grpc-prometheus metrics per RPC: method, code, duration. Never payloads or
 * headers (they carry keys). Streaming calls are finished when their response stream ends.
 */
export function createObserveInterceptor(
  logger: Logger,
  metrics: Metrics,
): { interceptor: Interceptor; inFlight: InFlight } {
  let count = 0;
  let waiters: Array<() => void> = [];
  const inFlight: InFlight = {
    get count() {
      return count;
    },
    idle() {
      return count === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve));
    },
  };

  const interceptor: Interceptor = (next) => async (req) => {
    const service = req.service.typeName;
    const method = req.method.name;
    const type = grpcType(req.method.methodKind);
    const labels = { grpc_type: type, grpc_service: service, grpc_method: method };
    const started = process.hrtime.bigint();
    count++;
    metrics.grpcInFlight.inc();
    metrics.grpcStarted.inc(labels);
    let finished = false;
    const finish = (error: unknown) => {
      if (finished) {
        return;
      }
      finished = true;
      const code = error === undefined ? "OK" : Code[ConnectError.from(error).code];
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.grpcHandled.inc({ ...labels, grpc_code: code });
      metrics.grpcHandlingSeconds.observe(labels, seconds);
      metrics.grpcInFlight.dec();
      const line = { method: `${service}/${method}`, code, ms: Math.round(seconds * 1e4) / 10 };
      if (error === undefined || !isServerFault(error)) {
        logger.info(line, "rpc");
      } else {
        logger.warn({ ...line, error: ConnectError.from(error).rawMessage }, "rpc");
      }
      count--;
      if (count === 0) {
        const resolved = waiters;
        waiters = [];
        resolved.forEach((resolve) => resolve());
      }
    };
    try {
      const res = await next(req);
      if (!res.stream) {
        finish(undefined);
        return res;
      }
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* messages;
            finish(undefined);
          } catch (error) {
            finish(error);
            throw error;
          } finally {
            // The client went away mid-stream.
            finish(new ConnectError("stream ended early", Code.Canceled));
          }
        })(),
      };
    } catch (error) {
      finish(error);
      throw error;
    }
  };
  return { interceptor, inFlight };
}

/**
 * With API keys configured, every call but health and reflection must carry `authorization: Bearer
 * <key>`. Keys are compared as SHA-256 digests in constant time, so neither content nor length leaks.
 */
export function createAuthInterceptor(apiKeys: readonly string[]): Interceptor | undefined {
  if (apiKeys.length === 0) {
    return undefined;
  }
  const digests = apiKeys.map((key) => digest(key));
  return (next) => async (req) => {
    if (req.service.typeName.startsWith("grpc.")) {
      return next(req);
    }
    const header = req.header.get("authorization") ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (match === null) {
      throw new ConnectError(
        "missing credentials: send the header 'authorization: Bearer <api key>'",
        Code.Unauthenticated,
      );
    }
    const presented = digest(match[1]);
    let valid = false;
    for (const candidate of digests) {
      valid = timingSafeEqual(candidate, presented) || valid;
    }
    if (!valid) {
      throw new ConnectError("invalid API key", Code.Unauthenticated);
    }
    return next(req);
  };
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

function grpcType(kind: string): string {
  switch (kind) {
    case "client_streaming":
      return "client_stream";
    case "server_streaming":
      return "server_stream";
    case "bidi_streaming":
      return "bidi_stream";
    default:
      return "unary";
  }
}

function isServerFault(error: unknown): boolean {
  const code = ConnectError.from(error).code;
  return code === Code.Internal || code === Code.Unavailable || code === Code.Unknown || code === Code.DataLoss;
}

/** Methods that embed text or scan many vectors: the calls admission control counts. */
const EXPENSIVE_METHODS: ReadonlySet<string> = new Set([
  "UpsertEmbedding",
  "BatchUpsertEmbeddings",
  "StreamUpsertEmbeddings",
  "CreateEmbeddingsForCatalog",
  "ReconcileEmbeddings",
  "SearchEmbeddings",
  "RetrieveContext",
]);

/** How long a refused caller is told to wait before trying again. */
export const RETRY_AFTER_MS = 1_000;

/**
 * Admission control: at most `limit` expensive calls in flight on this replica. One more is refused
 * at once with RESOURCE_EXHAUSTED and a retry hint (the `grpc-retry-pushback-ms` trailer gRPC clients
 * honour, and `retry-after` seconds), so overload shows up as fast refusals a balancer or client can
 * route around, not as a queue that grows until every deadline passes. A streaming call holds its
 * slot until its response stream ends.
 */
export function createAdmissionInterceptor(limit: number): Interceptor {
  let inFlight = 0;
  return (next) => async (req) => {
    if (!req.service.typeName.startsWith("dq.") || !EXPENSIVE_METHODS.has(req.method.name)) {
      return next(req);
    }
    if (inFlight >= limit) {
      const metadata = new Headers({
        "grpc-retry-pushback-ms": String(RETRY_AFTER_MS),
        "retry-after": String(Math.ceil(RETRY_AFTER_MS / 1000)),
      });
      throw new ConnectError(
        `server busy: ${limit} expensive calls already in flight on this replica (MAX_CONCURRENT_EXPENSIVE_CALLS); retry after ${RETRY_AFTER_MS} ms`,
        Code.ResourceExhausted,
        metadata,
      );
    }
    inFlight++;
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        inFlight--;
      }
    };
    try {
      const res = await next(req);
      if (!res.stream) {
        release();
        return res;
      }
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* messages;
          } finally {
            release();
          }
        })(),
      };
    } catch (error) {
      release();
      throw error;
    }
  };
}
