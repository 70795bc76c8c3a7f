import { EventEmitter } from "node:events";
// A dependency of slonik itself (same version); imported to wrap its driver, see `createDriverFactory`.
import { createPgDriverFactory } from "@slonik/pg-driver";
import type { Logger } from "pino";
import {
  BackendTerminatedError,
  BackendTerminatedUnexpectedlyError,
  ConnectionError,
  createPool,
  createTypeParserPreset,
  IdleTransactionTimeoutError,
  SchemaValidationError,
  StatementCancelledError,
  StatementTimeoutError,
  type DatabasePool,
  type DriverClient,
  type DriverClientEventEmitter,
  type DriverFactory,
  type DriverTypeParser,
  type Interceptor,
  type QueryResultRow,
} from "slonik";
import { DomainError, FailedPreconditionError, InternalError, UnavailableError } from "../core/errors.js";

export interface PostgresPoolOptions {
  /** A `postgres://` URL. Never logged as-is: it may carry a password. */
  url: string;
  /** Use 1 against the embedded PGlite server (see `EMBEDDED_POSTGRES_POOL_SIZE`). */
  maximumPoolSize: number;
  logger: Logger;
  /** How long to wait for a connection before the query fails (default 5000 ms). */
  connectionTimeoutMs?: number;
  /** Server-side statement timeout (default 60000 ms). */
  statementTimeoutMs?: number;
}

/**
 * Creates the Slonik pool the Postgres stores share. Resolves once the server answered (Slonik looks up
 * the type parsers' oids on a first connection), so an unreachable server fails here with an
 * `UnavailableError` naming host and port. Later connection errors surface as Slonik/pg errors, which
 * each store converts at its own boundary. The caller owns the pool and ends it (`pool.end()`).
 *
 * Rows come back as `sql.type(schema)` describes them: a result-parser interceptor validates (and
 * transforms) every row with the query's zod schema. `timestamptz` is epoch milliseconds; `int8` is a
 * number when it fits in a double exactly, else a bigint.
 */
export async function createPostgresPool(options: PostgresPoolOptions): Promise<DatabasePool> {
  const { url, maximumPoolSize, logger } = options;
  const target = describeTarget(url);
  try {
    const pool = await createPool(url, {
      maximumPoolSize,
      connectionTimeout: options.connectionTimeoutMs ?? 5_000,
      statementTimeout: options.statementTimeoutMs ?? 60_000,
      // Each connection is tried once: the callers (readiness, the client's retry) decide about retrying.
      connectionRetryLimit: 1,
      // Slonik's default runs DISCARD ALL on every release: one more round trip per query. The stores
      // set no session state, so there is nothing to reset.
      resetConnection: async () => {},
      driverFactory: createDriverFactory(),
      interceptors: [createResultParserInterceptor()],
      typeParsers: createTypeParsers(),
    });
    logger.debug({ postgres: target, maximumPoolSize }, "postgres pool ready");
    return pool;
  } catch (error) {
    // createPool only connects and reads pg_type: whatever failed, the server was not usable.
    throw cannotConnect(target, error);
  }
}

/**
 * The server could not be used at all (refused, timed out, wrong password, no such database): an
 * `UnavailableError` naming host and port, with the SQLSTATE or errno when there is one.
 */
export function cannotConnect(target: string, error: unknown): UnavailableError {
  const classified = classifyPostgresError(error);
  const reason = classified.kind === "unavailable" ? classified.reason : `the server did not answer${sqlState(error)}`;
  return new UnavailableError(
    "postgres",
    `cannot connect to ${target}: ${reason}; check DATABASE_URL (or POSTGRES_*) and that the server is running`,
    { cause: error },
  );
}

/** `host:port/database` of a URL, without credentials, for messages and logs. */
export function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port === "" ? "5432" : parsed.port}${parsed.pathname}`;
  } catch {
    return "the configured server";
  }
}

function createTypeParsers(): DriverTypeParser[] {
  return [
    ...createTypeParserPreset().filter((parser) => parser.name !== "int8"),
    {
      name: "int8",
      parse: (value: string) => {
        const number = Number(value);
        return Number.isSafeInteger(number) ? number : BigInt(value);
      },
    },
  ];
}

/**
 * Slonik 47's pg driver (its documented `driverFactory`) with one fix. When a connection dies during a
 * query, pg emits the client's `error` before the query's promise rejects; Slonik then destroys the
 * client while the query is active, its destroy races that (rejecting) query and rejects before
 * emitting `destroy`, and the pool keeps the dead client forever: with a pool of one, every later query
 * waits for ever. Each client is wrapped so that `destroy` is emitted once the client is gone, however
 * its destroy ended, and the pool opens a new connection. (@slonik/driver 49 catches that failure
 * itself; it needs Node 24. Drop this with the upgrade.)
 */
function createDriverFactory(): DriverFactory {
  const createPgDriver = createPgDriverFactory();
  return async (configuration) => {
    const driver = await createPgDriver(configuration);
    return {
      createClient: async () => makeDestroyReliable(await driver.createClient()),
    };
  };
}

function makeDestroyReliable(client: DriverClient): DriverClient {
  // Listeners of the wrapped client: the client's own events forwarded, `destroy` emitted here once.
  const events: DriverClientEventEmitter = new EventEmitter();
  // The driver logs and handles client errors itself; an `error` nobody else listens to must not throw.
  events.on("error", () => undefined);
  client.on("acquire", () => events.emit("acquire"));
  client.on("release", () => events.emit("release"));
  client.on("error", (error) => events.emit("error", error));
  client.on("notice", (notice) => events.emit("notice", notice));
  let gone = false;
  const markGone = () => {
    if (!gone) {
      gone = true;
      events.emit("destroy");
    }
  };
  client.on("destroy", markGone);
  const destroy = async () => {
    try {
      await client.destroy();
    } catch {
      // Already failed once (the socket is dead); the pool only needs to drop the client.
    } finally {
      markGone();
    }
  };
  // pg's `error` starts Slonik's own destroy of this client; follow it to its end, whatever the end.
  client.on("error", () => {
    setImmediate(() => void destroy());
  });
  return {
    ...client,
    destroy,
    state: () => (gone ? "DESTROYED" : client.state()),
    on: events.on.bind(events),
    off: events.off.bind(events),
    removeListener: events.removeListener.bind(events),
  };
}

/** Validates each row with the zod schema of `sql.type(schema)`; queries without one pass through. */
function createResultParserInterceptor(): Interceptor {
  return {
    name: "dq-result-parser",
    transformRow(queryContext, query, row): QueryResultRow {
      const parser = queryContext.resultParser;
      if (parser === undefined) {
        return row;
      }
      const result = parser.safeParse(row);
      if (!result.success) {
        throw new SchemaValidationError(query, row, result.error.issues);
      }
      return result.data as QueryResultRow;
    },
  };
}

/** What a driver error means for our callers. */
export interface ClassifiedPostgresError {
  kind: "unavailable" | "not_migrated" | "invalid_row" | "other";
  /** A short fixed phrase with the SQLSTATE or errno; never the driver's message (it can quote SQL). */
  reason: string;
}

const UNAVAILABLE_ERRNOS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
]);

/**
 * Classifies a Slonik, pg or socket error by its class (Slonik's typed errors), SQLSTATE or errno,
 * following `cause` links; never by message text. pg's own untyped failures (a connect timeout, a
 * connection that ends) are turned into Slonik's classes by its driver; where no driver stands between
 * (createPool's first connection, node-pg-migrate's client) the caller knows what it was doing.
 */
export function classifyPostgresError(error: unknown): ClassifiedPostgresError {
  if (error instanceof SchemaValidationError) {
    return { kind: "invalid_row", reason: "a row does not have the expected shape" };
  }
  for (const link of causeChain(error)) {
    const code = typeof (link as { code?: unknown }).code === "string" ? (link as { code: string }).code : undefined;
    if (code !== undefined) {
      const known = classifyCode(code);
      if (known !== undefined) {
        return known;
      }
    }
  }
  for (const link of causeChain(error)) {
    if (link instanceof BackendTerminatedError || link instanceof BackendTerminatedUnexpectedlyError) {
      return { kind: "unavailable", reason: "the connection was terminated" };
    }
    if (link instanceof StatementTimeoutError || link instanceof IdleTransactionTimeoutError) {
      return { kind: "unavailable", reason: "the statement timed out" };
    }
    if (link instanceof StatementCancelledError) {
      return { kind: "unavailable", reason: "the statement was cancelled by the server" };
    }
    if (link instanceof ConnectionError) {
      return { kind: "unavailable", reason: "cannot establish a connection" };
    }
  }
  return { kind: "other", reason: "unexpected database error" };
}

function classifyCode(code: string): ClassifiedPostgresError | undefined {
  if (UNAVAILABLE_ERRNOS.has(code)) {
    return {
      kind: "unavailable",
      reason: code === "ECONNREFUSED" ? "connection refused (ECONNREFUSED)" : `network error (${code})`,
    };
  }
  if (code === "42P01" || code === "42703") {
    return { kind: "not_migrated", reason: `the schema is not migrated (SQLSTATE ${code})` };
  }
  if (code.startsWith("08")) {
    return { kind: "unavailable", reason: `connection failure (SQLSTATE ${code})` };
  }
  if (code === "57P01" || code === "57P02" || code === "57P03") {
    return { kind: "unavailable", reason: `the server is shutting down or restarting (SQLSTATE ${code})` };
  }
  if (code === "57014") {
    return { kind: "unavailable", reason: "the statement timed out or was cancelled (SQLSTATE 57014)" };
  }
  if (code.startsWith("53")) {
    return { kind: "unavailable", reason: `the server is out of resources (SQLSTATE ${code})` };
  }
  if (code === "40001" || code === "40P01") {
    return { kind: "unavailable", reason: `the transaction conflicted with another one (SQLSTATE ${code}); retry` };
  }
  if (code === "25P03") {
    return { kind: "unavailable", reason: "the transaction was idle too long (SQLSTATE 25P03)" };
  }
  if (code === "28P01" || code === "28000") {
    return {
      kind: "unavailable",
      reason: `authentication failed (SQLSTATE ${code}); check the configured user and password`,
    };
  }
  if (code === "3D000") {
    return { kind: "unavailable", reason: "the configured database does not exist (SQLSTATE 3D000)" };
  }
  return undefined;
}

function* causeChain(error: unknown): Generator<unknown> {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== undefined && current !== null && !seen.has(current)) {
    seen.add(current);
    yield current;
    current = (current as { cause?: unknown }).cause;
  }
}

/**
 * Converts any error raised while talking to Postgres into a domain error. Domain errors pass through
 * unchanged. `action` says what was being done ("reading rows"), for the message.
 */
export function toPostgresDomainError(error: unknown, action: string): DomainError {
  if (error instanceof DomainError) {
    return error;
  }
  const classified = classifyPostgresError(error);
  switch (classified.kind) {
    case "unavailable":
      return new UnavailableError("postgres", `${action} failed: ${classified.reason}; retry later`, { cause: error });
    case "not_migrated":
      return new FailedPreconditionError("dq_embeddings does not exist or is not migrated: run npm run migrate", {
        cause: error,
      });
    case "invalid_row":
      return new InternalError(`${action} failed: ${classified.reason}`, { cause: error });
    case "other":
      return new InternalError(`${action} failed: ${classified.reason}${sqlState(error)}`, { cause: error });
  }
}

function sqlState(error: unknown): string {
  for (const link of causeChain(error)) {
    const code = (link as { code?: unknown }).code;
    if (typeof code === "string") {
      return ` (${code})`;
    }
  }
  return "";
}
