import type { Interceptor } from "@connectrpc/connect";

/**
 * The headers the bytes paths send on every call: a user agent naming the path (so a Qdrant log or a
 * test tells them from the real client), and the API key when there is one.
 */
export function wireHeaders(userAgent: string, apiKey: string | undefined): Interceptor {
  return (next) => (req) => {
    req.header.set("user-agent", userAgent);
    if (apiKey !== undefined) {
      req.header.set("api-key", apiKey);
    }
    return next(req);
  };
}
