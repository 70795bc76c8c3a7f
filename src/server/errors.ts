import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { DomainError, type DomainErrorKind, InternalError } from "../core/errors.js";

/** The single table from domain errors to gRPC codes (STYLE.md). */
const CODES: Record<DomainErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  unavailable: Code.Unavailable,
  resource_exhausted: Code.ResourceExhausted,
  deadline_exceeded: Code.DeadlineExceeded,
  cancelled: Code.Canceled,
  internal: Code.Internal,
};

/**
 * Turns anything a handler throws into a ConnectError. Domain errors keep their message (written for
 * callers); anything else is a bug: logged with its cause, answered INTERNAL without details.
 */
export function toConnectError(error: unknown, logger: Logger, method: string): ConnectError {
  if (error instanceof ConnectError) {
    return error;
  }
  if (error instanceof DomainError) {
    if (error instanceof InternalError || error.kind === "unavailable") {
      logger.error({ err: error.cause ?? error, method, ids: error instanceof InternalError ? error.ids : undefined }, error.message);
    }
    return new ConnectError(error.message, CODES[error.kind], undefined, undefined, error);
  }
  logger.error({ err: error, method }, "unexpected error");
  return new ConnectError("internal error; the service log has the details", Code.Internal, undefined, undefined, error);
}

/** For RPCs of the contract that a later release implements. */
export function unimplemented(method: string, what: string): never {
  throw new ConnectError(`${method} is not implemented yet: ${what}`, Code.Unimplemented);
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
            throw toConnectError(error, logger, method);
          }
        })(),
      };
    } catch (error) {
      throw toConnectError(error, logger, method);
    }
  };
}
