import { CancelledError, DeadlineExceededError } from "../core/errors.js";

/**
 * The domain error for an aborted signal: a `TimeoutError` reason (as `AbortSignal.timeout` gives)
 * is the caller's deadline, anything else a cancel.
 */
export function abortError(signal: AbortSignal, what = "embedding request"): CancelledError | DeadlineExceededError {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return new DeadlineExceededError(`${what} exceeded the caller's deadline`, { cause: reason });
  }
  return new CancelledError(`${what} was cancelled by the caller`, { cause: reason });
}

export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw abortError(signal, what);
}
