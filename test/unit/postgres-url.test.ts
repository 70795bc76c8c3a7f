import { parse } from "pg-connection-string";
import { parseDsn } from "slonik";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { describePostgresUrl, normalizePostgresUrl, PostgresUrlError } from "../../src/postgres-url.js";

describe("normalizePostgresUrl", () => {
  it("leaves TCP URLs as they are", () => {
    expect(normalizePostgresUrl("postgres://dq:dq@127.0.0.1:5432/postgres")).toBe(
      "postgres://dq:dq@127.0.0.1:5432/postgres",
    );
    expect(normalizePostgresUrl("postgresql://a:b@db/x?sslmode=require")).toBe("postgresql://a:b@db/x?sslmode=require");
  });

  it("rewrites libpq's socket forms into one that new URL, Slonik and node-postgres all read as the socket", () => {
    for (const input of [
      "postgres://postgres@/db?host=/var/run/postgresql",
      "postgresql://postgres@/db?host=%2Fvar%2Frun%2Fpostgresql",
      "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/db",
    ]) {
      const url = normalizePostgresUrl(input);
      expect(url).toBe("postgres://postgres@%2Fvar%2Frun%2Fpostgresql/db");
      expect(() => new URL(url)).not.toThrow();
      expect(parseDsn(url)).toMatchObject({ host: "/var/run/postgresql", databaseName: "db", username: "postgres" });
      expect(parse(url)).toMatchObject({ host: "/var/run/postgresql", database: "db", user: "postgres" });
    }
  });

  it("keeps credentials, the port (the socket file's number) and other parameters", () => {
    const url = normalizePostgresUrl(
      "postgres://svc:p%40ss@/dq?host=/run/postgresql&port=5433&application_name=migrate",
    );
    expect(parseDsn(url)).toMatchObject({
      host: "/run/postgresql",
      port: 5433,
      username: "svc",
      password: "p@ss",
      databaseName: "dq",
      applicationName: "migrate",
    });
    expect(describePostgresUrl(url)).toBe("socket /run/postgresql port 5433/dq");
    expect(describePostgresUrl("postgres://a:secret@db:6543/x")).toBe("db:6543/x");
  });

  it("refuses other schemes and URLs without a host, without echoing the value", () => {
    expect(() => normalizePostgresUrl("mysql://root:secret@db/x")).toThrow(PostgresUrlError);
    expect(() => normalizePostgresUrl("postgres://root:secret@/x")).toThrow(/names no host/);
    try {
      normalizePostgresUrl("mysql://root:secret@db/x");
    } catch (error) {
      expect((error as Error).message).not.toContain("secret");
    }
  });
});

describe("loadConfig with Unix-socket Postgres URLs", () => {
  it("accepts DATABASE_URL=postgres://user@/db?host=/var/run/postgresql", () => {
    const config = loadConfig({ DATABASE_URL: "postgres://postgres@/db?host=/var/run/postgresql" });
    expect(parseDsn(config.postgres.url!)).toMatchObject({
      host: "/var/run/postgresql",
      databaseName: "db",
      username: "postgres",
    });
  });

  it("reads POSTGRES_HOST as a socket directory when it is a path", () => {
    const config = loadConfig({ POSTGRES_HOST: "/var/run/postgresql", POSTGRES_USER: "svc", POSTGRES_DB: "dq" });
    expect(parseDsn(config.postgres.url!)).toMatchObject({
      host: "/var/run/postgresql",
      port: 5432,
      databaseName: "dq",
      username: "svc",
    });
  });

  it("names DATABASE_URL in one line, without its value, when unreadable", () => {
    expect(() => loadConfig({ DATABASE_URL: "not a url with secret" })).toThrow(ConfigError);
    expect(() => loadConfig({ DATABASE_URL: "not a url with secret" })).toThrow(
      /^invalid configuration: DATABASE_URL must start with postgres:\/\//,
    );
  });
});
