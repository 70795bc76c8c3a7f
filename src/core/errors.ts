/**
 * Domain errors. The core and the stores throw these; `server/errors.ts` is the single table that
 * turns them into gRPC codes. Messages name the field or id and say what to do; they never carry SQL,
 * stack traces or keys. `cause` keeps the driver's error for the log.
 */

export type DomainErrorKind =
  | "invalid_argument"
  | "not_found"
  | "failed_precondition"
  | "unavailable"
  | "deadline_exceeded"
  | "cancelled"
  | "internal";

export class DomainError extends Error {
  readonly kind: DomainErrorKind;

  constructor(kind: DomainErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = "DomainError";
  }
}

/** A request field is missing or malformed. `field` is the request path, e.g. `embeddings[3].vector`. */
export class InvalidArgumentError extends DomainError {
  readonly field: string;

  constructor(field: string, message: string) {
    super("invalid_argument", `${field}: ${message}`);
    this.field = field;
    this.name = "InvalidArgumentError";
  }
}

export class NotFoundError extends DomainError {
  constructor(message: string) {
    super("not_found", message);
    this.name = "NotFoundError";
  }
}

export class FailedPreconditionError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("failed_precondition", message, options);
    this.name = "FailedPreconditionError";
  }
}

/** A dependency (Postgres, Qdrant, the embedding API) is down, timed out or overloaded. Retryable. */
export class UnavailableError extends DomainError {
  readonly dependency: string;

  constructor(dependency: string, message: string, options?: { cause?: unknown }) {
    super("unavailable", `${dependency} unavailable: ${message}`, options);
    this.dependency = dependency;
    this.name = "UnavailableError";
  }
}

export class CancelledError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("cancelled", message, options);
    this.name = "CancelledError";
  }
}

export class DeadlineExceededError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("deadline_exceeded", message, options);
    this.name = "DeadlineExceededError";
  }
}

/** Compensation failed, or a bug. The server logs the cause and the ids. */
export class InternalError extends DomainError {
  readonly ids: readonly string[];

  constructor(message: string, options?: { cause?: unknown; ids?: readonly string[] }) {
    super("internal", message, options);
    this.ids = options?.ids ?? [];
    this.name = "InternalError";
  }
}
