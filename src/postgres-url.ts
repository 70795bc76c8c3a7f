import { parse } from "pg-connection-string";

/**
 * Postgres connection URLs as libpq reads them, including Unix-socket forms that the WHATWG `URL`
 * parser (and so Slonik's `parseDsn`) refuses: `postgres://user@/db?host=/var/run/postgresql`, or
 * `postgres:///db?host=/run/postgresql`. `normalizePostgresUrl` rewrites them into the one form every
 * reader here accepts (`new URL`, Slonik, node-postgres, node-pg-migrate): the socket directory
 * percent-encoded in the host part (`postgres://user@%2Fvar%2Frun%2Fpostgresql/db`), which Slonik and
 * node-postgres decode back into a socket path. TCP URLs come back unchanged.
 */

export class PostgresUrlError extends Error {}

const SCHEMES = ["postgres:", "postgresql:", "socket:"];

/** The URL, rewritten when it names a socket directory; throws `PostgresUrlError` (without the value) when unreadable. */
export function normalizePostgresUrl(value: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*:)/i.exec(value)?.[1]?.toLowerCase();
  if (scheme === undefined || !SCHEMES.includes(scheme)) {
    throw new PostgresUrlError("must start with postgres:// or postgresql://");
  }
  if (scheme !== "socket:" && isWhatwgTcpUrl(value)) {
    return value;
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(value);
  } catch {
    throw new PostgresUrlError("is not a valid Postgres URL");
  }
  const host = parsed.host ?? "";
  if (host === "") {
    throw new PostgresUrlError("names no host: give host:port, or a socket directory as ?host=/var/run/postgresql");
  }
  // Only socket directories need rewriting; a TCP URL that `new URL` refused is simply invalid.
  if (!host.startsWith("/")) {
    throw new PostgresUrlError("is not a valid URL");
  }
  const user = parsed.user ? encodeURIComponent(parsed.user) : "";
  const password = parsed.password ? `:${encodeURIComponent(parsed.password)}` : "";
  const credentials = user === "" && password === "" ? "" : `${user}${password}@`;
  const port = parsed.port ? `:${parsed.port}` : "";
  const database = parsed.database ? `/${encodeURIComponent(parsed.database)}` : "";
  const query = new URLSearchParams();
  const original = safeSearchParams(value);
  for (const [key, entry] of original) {
    if (key !== "host" && key !== "port") query.append(key, entry);
  }
  const search = query.size > 0 ? `?${query.toString()}` : "";
  const normalized = `postgres://${credentials}${encodeURIComponent(host)}${port}${database}${search}`;
  // Whatever came in, what goes out must be readable by `new URL` (Slonik parses it that way).
  new URL(normalized);
  return normalized;
}

/** True when `new URL` reads it and it names a TCP host: nothing to rewrite. */
function isWhatwgTcpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.hostname !== "" && !url.searchParams.has("host");
  } catch {
    return false;
  }
}

function safeSearchParams(value: string): URLSearchParams {
  const index = value.indexOf("?");
  return new URLSearchParams(index < 0 ? "" : value.slice(index + 1));
}

/** `host:port/database` or `socket /dir/database`, without credentials, for messages and logs. */
export function describePostgresUrl(value: string): string {
  try {
    const parsed = parse(normalizePostgresUrl(value));
    const host = parsed.host ?? "";
    const database = parsed.database ?? "";
    return host.startsWith("/")
      ? `socket ${host}${parsed.port ? ` port ${parsed.port}` : ""}/${database}`
      : `${host}:${parsed.port || 5432}/${database}`;
  } catch {
    return "an unreadable URL";
  }
}
