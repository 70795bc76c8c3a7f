import pg from "pg";
import { BackendTerminatedError, ConnectionError, SchemaValidationError, StatementTimeoutError } from "slonik";
import { describe, expect, it } from "vitest";
import { FailedPreconditionError, InternalError, NotFoundError, UnavailableError } from "../../../src/core/errors.js";
import { classifyPostgresError, describeTarget, toPostgresDomainError } from "../../../src/stores/postgres-pool.js";

function databaseError(code: string, message = "server said no"): pg.DatabaseError {
  const error = new pg.DatabaseError(message, message.length, "error");
  error.code = code;
  return error;
}

function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, errno: -111, syscall: "connect" });
}

describe("toPostgresDomainError", () => {
  it.each([
    ["ECONNREFUSED", socketError("ECONNREFUSED")],
    ["ECONNRESET", socketError("ECONNRESET")],
    ["admin shutdown 57P01", databaseError("57P01")],
    ["connection failure 08006", databaseError("08006")],
    ["too many connections 53300", databaseError("53300")],
    ["query cancelled / timed out 57014", databaseError("57014")],
    ["authentication failed 28P01", databaseError("28P01")],
    [
      "Slonik ConnectionError wrapping ECONNREFUSED",
      new ConnectionError("connect ECONNREFUSED", { cause: socketError("ECONNREFUSED") }),
    ],
    ["Slonik BackendTerminatedError", new BackendTerminatedError(new Error("Connection terminated unexpectedly"))],
    [
      "Slonik StatementTimeoutError",
      new StatementTimeoutError(new Error("canceling statement due to statement timeout")),
    ],
  ])("turns %s into UnavailableError(postgres)", (_name, error) => {
    const converted = toPostgresDomainError(error, "reading rows");
    expect(converted).toBeInstanceOf(UnavailableError);
    expect((converted as UnavailableError).dependency).toBe("postgres");
    expect(converted.message).toMatch(/^postgres unavailable: reading rows failed: /);
    expect(converted.cause).toBe(error);
  });

  it("turns an undefined table into FailedPreconditionError naming the migrate command", () => {
    const error = databaseError("42P01", 'relation "dq_embeddings" does not exist');
    const converted = toPostgresDomainError(error, "reading rows");
    expect(converted).toBeInstanceOf(FailedPreconditionError);
    expect(converted.message).toContain("npm run migrate");
    expect(classifyPostgresError(error).kind).toBe("not_migrated");
  });

  it("turns anything else into InternalError with the cause and without the driver's text", () => {
    const error = databaseError("22003", "value out of range in SELECT secret FROM dq_embeddings");
    const converted = toPostgresDomainError(error, "writing rows");
    expect(converted).toBeInstanceOf(InternalError);
    expect(converted.message).toBe("writing rows failed: unexpected database error (22003)");
    expect(converted.cause).toBe(error);
  });

  it("reports rows that fail the zod schema as InternalError", () => {
    const error = new SchemaValidationError({ sql: "SELECT 1", values: [] }, { id: 1 }, []);
    const converted = toPostgresDomainError(error, "listing rows");
    expect(converted).toBeInstanceOf(InternalError);
    expect(converted.message).not.toContain("SELECT");
  });

  it("never reads message text: an untyped error that says 'connection terminated' is not taken for one", () => {
    const error = new Error("Connection terminated unexpectedly; timeout expired");
    expect(classifyPostgresError(error).kind).toBe("other");
    expect(toPostgresDomainError(error, "reading rows")).toBeInstanceOf(InternalError);
  });

  it("passes domain errors through unchanged", () => {
    const error = new NotFoundError("embedding x does not exist");
    expect(toPostgresDomainError(error, "anything")).toBe(error);
  });
});

describe("describeTarget", () => {
  it("names host, port and database without credentials", () => {
    expect(describeTarget("postgres://dq:secret@db.internal:6543/embeddings")).toBe("db.internal:6543/embeddings");
    expect(describeTarget("postgres://dq:secret@localhost/postgres")).toBe("localhost:5432/postgres");
    expect(describeTarget("not a url")).toBe("the configured server");
  });
});
