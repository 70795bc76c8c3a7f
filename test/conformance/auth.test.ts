// API keys as Qdrant checks them (src/tonic/auth.rs, src/common/auth/mod.rs): `api-key` header or
// `authorization: Bearer`; HealthCheck stays open; anything else without the key is UNAUTHENTICATED.
import { ConnectError, ConnectErrorCode as Code, QdrantClient } from "@qdrant/js-client-grpc";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmbeddedQdrant, type EmbeddedQdrant } from "../../src/embedded/qdrant/index.js";

async function rejection(call: () => Promise<unknown>): Promise<ConnectError> {
  try {
    await call();
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

describe("API key", () => {
  let server: EmbeddedQdrant;
  let url: string;
  const apiKey = "s3cret-key";
  beforeAll(async () => {
    server = createEmbeddedQdrant({ logger: pino({ level: "silent" }), apiKey });
    const { host, port } = await server.start();
    url = `http://${host}:${port}`;
  });
  afterAll(() => server.stop());

  const client = (key?: string, headers?: Record<string, string>) =>
    new QdrantClient({ url, apiKey: key, headers, compression: false, checkCompatibility: false });

  it("refuses calls without a key, with Qdrant's message", async () => {
    const err = await rejection(() => client().api("collections").list({}));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toBe("Must provide an API key or an Authorization bearer token");
  });

  it("refuses a wrong key", async () => {
    const err = await rejection(() => client("wrong").api("collections").list({}));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toBe("Invalid API key or JWT");
  });

  it("accepts the key in api-key or as a bearer token, and leaves HealthCheck open", async () => {
    expect((await client(apiKey).api("collections").list({})).collections).toEqual([]);
    expect(
      (
        await client(undefined, { authorization: `Bearer ${apiKey}` })
          .api("collections")
          .list({})
      ).collections,
    ).toEqual([]);
    expect((await client().api("service").healthCheck({})).title).toBe("qdrant - vector search engine");
  });
});
