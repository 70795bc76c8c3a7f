/**
 * What a UUID looks like on this service's API: 32 hex digits in 8-4-4-4-12 groups, any case, any
 * version or variant (Postgres' `uuid` type takes them all; the `uuid` package's `validate` would
 * refuse ids that are not RFC 9562 versions, which callers may already hold).
 */
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}
