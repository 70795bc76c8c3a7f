import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { DomainError, type DomainErrorKind, InternalError } from "../core/errors.js";

/** The single table from domain errors to gRPC codes (STYLE.md). */
const CODES: Record<DomainErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  failed_precondition: Code.FailedPrecondition,
  unavailable: Code.Unavailable,
  deadline_exceeded: Code.DeadlineExceeded,
  cancelled: Code.Canceled,
  internal: Code.Internal,
};

/**
 * Turns anything a handler throws into a ConnectError. Domain errors keep their message (written for
 * callers); anything else is a bug: logged with its cause, answered INTERNAL without details.
 */
export function toConnectError(error: unknown, logger: Logger, method: string, signal?: AbortSignal): ConnectError {
  const aborted = callerAbort(error, signal);
  if (aborted !== undefined) {
    // The caller cancelled or its deadline passed: whatever failed because of it (a store call cut
    // short, a write stopped before its intent) is the caller's doing, not a server fault.
    logger.info(
      { method, code: Code[aborted], cause: error instanceof Error ? error.message : undefined },
      "call ended by the caller's cancel or deadline",
    );
    const message = aborted === Code.DeadlineExceeded ? "the deadline passed" : "the call was cancelled";
    return new ConnectError(
      `${message}; a write that was already recorded is finished by the service, so retrying is safe`,
      aborted,
      undefined,
      undefined,
      error,
    );
  }
  if (error instanceof ConnectError) {
    return error;
  }
  if (error instanceof DomainError) {
    if (error instanceof InternalError || error.kind === "unavailable") {
      logger.error(
        { err: error.cause ?? error, method, ids: error instanceof InternalError ? error.ids : undefined },
        error.message,
      );
    }
    return new ConnectError(error.message, CODES[error.kind], undefined, undefined, error);
  }
  logger.error({ err: error, method }, "unexpected error");
  return new ConnectError(
    "internal error; the service log has the details",
    Code.Internal,
    undefined,
    undefined,
    error,
  );
}

/**
 * DEADLINE_EXCEEDED or CANCELLED when the call ended because of its caller: our own domain errors for
 * that, connect's abort reasons, or any failure while the call's signal is aborted.
 */
function callerAbort(error: unknown, signal: AbortSignal | undefined): Code | undefined {
  if (error instanceof DomainError && (error.kind === "cancelled" || error.kind === "deadline_exceeded")) {
    return CODES[error.kind];
  }
  if (signal?.aborted !== true) {
    return undefined;
  }
  const reason = signal.reason as { code?: unknown; name?: unknown } | undefined;
  return reason?.code === Code.DeadlineExceeded || reason?.name === "TimeoutError"
    ? Code.DeadlineExceeded
    : Code.Canceled;
}

/** Innermost interceptor: whatever a handler throws, unary or mid-stream, leaves as a proper status. */
export function createErrorInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    try {
      const res = await next(req);
      if (!res.stream) {
        return res;
      }
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* messages;
          } catch (error) {
            throw toConnectError(error, logger, method, req.signal);
          }
        })(),
      };
    } catch (error) {
      throw toConnectError(error, logger, method, req.signal);
    }
  };
}
