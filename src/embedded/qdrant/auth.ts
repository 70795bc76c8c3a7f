import { timingSafeEqual } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/**
 * API-key check as Qdrant's src/tonic/auth.rs and src/common/auth/mod.rs do it: the key comes from
 * the `api-key` header or `authorization: Bearer <key>`; HealthCheck (and grpc.health) stay open;
 * a missing or wrong key is UNAUTHENTICATED with Qdrant's wording.
 */
export function apiKeyInterceptor(apiKey: string): Interceptor {
  const expected = Buffer.from(apiKey);
  return (next) => async (req) => {
    if (req.url.endsWith("/qdrant.Qdrant/HealthCheck") || req.url.endsWith("/grpc.health.v1.Health/Check")) {
      return next(req);
    }
    const bearer = req.header.get("authorization");
    const key = req.header.get("api-key") ?? (bearer?.startsWith("Bearer ") ? bearer.slice(7) : null);
    if (key === null) {
      throw new ConnectError("Must provide an API key or an Authorization bearer token", Code.Unauthenticated);
    }
    const given = Buffer.from(key);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ConnectError("Invalid API key or JWT", Code.Unauthenticated);
    }
    return next(req);
  };
}
