import { timingSafeEqual, createHash } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { ApiKey } from "../config.js";
import { checkEachMessage, fieldPath } from "./validation/request-rules.js";
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
 * A key scoped to catalogs may name only those: every `catalog_id` in its requests (each message of a
 * stream too) must be one of them, else PERMISSION_DENIED; and it may not use the RPCs where an empty
 * `catalog_id` means every catalog without naming one.
 */
export function createAuthInterceptor(apiKeys: readonly ApiKey[]): Interceptor | undefined {
  if (apiKeys.length === 0) {
    return undefined;
  }
  const keys = apiKeys.map((key) => ({ digest: digest(key.key), catalogs: key.catalogs && new Set(key.catalogs) }));
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
    let found: (typeof keys)[number] | undefined;
    for (const candidate of keys) {
      // Every candidate is compared, so the time taken does not say which one matched.
      if (timingSafeEqual(candidate.digest, presented)) found ??= candidate;
    }
    if (found === undefined) {
      throw new ConnectError("invalid API key", Code.Unauthenticated);
    }
    const scope = found.catalogs;
    if (scope === undefined) return next(req);
    const everyCatalog = ALL_CATALOGS_WHEN_EMPTY.has(req.method.name);
    return next(checkEachMessage(req, (message) => checkScope(message, scope, everyCatalog)));
  };
}

/** RPCs whose empty `catalog_id` means every catalog. */
const ALL_CATALOGS_WHEN_EMPTY = new Set(["CleanupRejectedEmbeddings", "ReconcileEmbeddings"]);

/** Throws PERMISSION_DENIED for the first `catalog_id` in `message` outside `scope`. */
function checkScope(message: object, scope: ReadonlySet<string>, everyCatalogWhenEmpty: boolean): void {
  for (const { path, value } of catalogIds(message as Record<string, unknown>, "")) {
    if (value === "") {
      if (path === "catalog_id" && everyCatalogWhenEmpty) {
        throw new ConnectError(
          "catalog_id: empty means every catalog, and this API key is scoped to some; name one of them",
          Code.PermissionDenied,
        );
      }
      continue; // required elsewhere: the validation that follows names it
    }
    if (!scope.has(value.toLowerCase())) {
      throw new ConnectError(`${path}: this API key is not scoped to that catalog`, Code.PermissionDenied);
    }
  }
}

/** Every `catalog_id` field in a decoded message, with its field path (metadata is not searched). */
function* catalogIds(message: Record<string, unknown>, prefix: string): Iterable<{ path: string; value: string }> {
  for (const [name, value] of Object.entries(message)) {
    if (name === "catalogId" && typeof value === "string") {
      yield { path: fieldPath(prefix, name), value };
    } else if (Array.isArray(value)) {
      // Repeated scalars (ids, vector values) hold no catalog_id: only lists of messages are entered.
      if (!isMessage(value[0])) continue;
      const path = fieldPath(prefix, name);
      for (let index = 0; index < value.length; index++) {
        yield* catalogIds(value[index] as Record<string, unknown>, `${path}[${index}]`);
      }
    } else if (isMessage(value)) {
      yield* catalogIds(value, fieldPath(prefix, name));
    }
  }
}

function isMessage(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && "$typeName" in value;
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
