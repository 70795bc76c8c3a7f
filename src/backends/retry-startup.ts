import pRetry from "p-retry";
import type { Logger } from "pino";
import { DomainError } from "../core/errors.js";

/**
 * Start-up waits for a dependency that is still coming up (compose starts everything at once), then
 * gives up with the last error. Only UNAVAILABLE is retried: a wrong dimension or a bad key is final.
 */
export async function retryStartup<T>(what: string, logger: Logger, run: () => Promise<T>): Promise<T> {
  return pRetry(run, {
    retries: 8,
    minTimeout: 250,
    maxTimeout: 5_000,
    shouldRetry: ({ error }) => error instanceof DomainError && error.kind === "unavailable",
    onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
      if (retriesLeft > 0 && error instanceof DomainError && error.kind === "unavailable") {
        logger.warn({ attempt: attemptNumber, error: error.message }, `${what} is not reachable yet; retrying`);
      }
    },
  });
}
