import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("loadConfig", () => {
  it("defaults to embedded backends, port 50051 and 3072 dimensions", () => {
    const config = loadConfig({});
    expect(config.grpc).toMatchObject({ host: "0.0.0.0", port: 50051, apiKeys: [], reflection: true });
    expect(config.metrics.port).toBe(9464);
    // Metric series name catalog ids: loopback unless the operator opens it.
    expect(config.metrics.host).toBe("127.0.0.1");
    expect(config.grpc.maxConcurrentExpensiveCalls).toBe(8);
    expect(config.postgres.url).toBeUndefined();
    expect(config.qdrant.host).toBeUndefined();
    expect(config.qdrant.collectionName).toBe("embeddings");
    expect(config.openai).toBeUndefined();
    expect(config.embedding.dimensions).toBe(3072);
    expect(config.dataDir).toBeUndefined();
  });

  it("keeps the prepared Postgres cluster in CACHE_DIR, else the user's XDG cache; off disables it", () => {
    expect(loadConfig({ HOME: "/home/u" }).cacheDir).toBe("/home/u/.cache/dq-embeddings");
    expect(loadConfig({ HOME: "/home/u", XDG_CACHE_HOME: "/xdg" }).cacheDir).toBe("/xdg/dq-embeddings");
    expect(loadConfig({ HOME: "/home/u", CACHE_DIR: "/srv/cache" }).cacheDir).toBe("/srv/cache");
    expect(loadConfig({ HOME: "/home/u", CACHE_DIR: "off" }).cacheDir).toBeUndefined();
    // No home to put it in: every new data directory runs initdb, as without a cache.
    expect(loadConfig({}).cacheDir).toBeUndefined();
  });

  it("builds a Postgres URL from the POSTGRES_* variables, escaping credentials", () => {
    const config = loadConfig({
      POSTGRES_HOST: "db",
      POSTGRES_PORT: "6543",
      POSTGRES_DB: "dq",
      POSTGRES_USER: "svc",
      POSTGRES_PASSWORD: "p@ss/word",
    });
    expect(config.postgres.url).toBe("postgres://svc:p%40ss%2Fword@db:6543/dq");
  });

  it("prefers DATABASE_URL over POSTGRES_*", () => {
    const config = loadConfig({ DATABASE_URL: "postgres://a:b@h:1/d", POSTGRES_HOST: "other" });
    expect(config.postgres.url).toBe("postgres://a:b@h:1/d");
  });

  it("reads Qdrant from QDRANT_HOST/QDRANT_GRPC_PORT or QDRANT_URL", () => {
    expect(loadConfig({ QDRANT_HOST: "qdrant", QDRANT_GRPC_PORT: "7334", QDRANT_API_KEY: "k" }).qdrant).toMatchObject({
      host: "qdrant",
      grpcPort: 7334,
      apiKey: "k",
      https: false,
    });
    expect(loadConfig({ QDRANT_URL: "https://q.example:6339" }).qdrant).toMatchObject({
      host: "q.example",
      grpcPort: 6339,
      https: true,
    });
  });

  it("splits API_KEYS on commas and enables OpenAI with a key", () => {
    const config = loadConfig({
      API_KEYS: " a, b ,,c",
      OPENAI_API_KEY: "sk-test",
      OPENAI_BASE_URL: "http://127.0.0.1:9/v1",
    });
    expect(config.grpc.apiKeys.map((entry) => entry.key)).toEqual(["a", "b", "c"]);
    expect(config.grpc.apiKeys.every((entry) => entry.catalogs === undefined)).toBe(true);
    expect(config.openai).toMatchObject({ apiKey: "sk-test", baseURL: "http://127.0.0.1:9/v1" });
  });

  it("reads API_KEYS entries scoped to catalogs, lower-casing the UUIDs", () => {
    const catalog = "0B6F1C9E-3C1A-4F0E-9D5E-2A7C8B9D0E1F";
    const second = "1b6f1c9e-3c1a-4f0e-9d5e-2a7c8b9d0e1f";
    const config = loadConfig({ API_KEYS: `open,tenant-key:${catalog}|${second}` });
    expect(config.grpc.apiKeys).toEqual([
      { key: "open", catalogs: undefined },
      { key: "tenant-key", catalogs: [catalog.toLowerCase(), second] },
    ]);
  });

  it("refuses a malformed scoped API_KEYS entry by position, never echoing the key", () => {
    for (const entry of ["secret-key:not-a-uuid", ":0b6f1c9e-3c1a-4f0e-9d5e-2a7c8b9d0e1f", "secret-key:"]) {
      let message = "";
      try {
        loadConfig({ API_KEYS: `fine,${entry}` });
      } catch (error) {
        message = String(error);
      }
      expect(message).toContain("API_KEYS");
      expect(message).toContain("entry 2");
      expect(message).not.toContain("secret-key");
    }
  });

  const bad: Array<[Record<string, string>, string]> = [
    [{ GRPC_PORT: "http" }, "GRPC_PORT"],
    [{ GRPC_PORT: "70000" }, "GRPC_PORT"],
    [{ METRICS_PORT: "-1" }, "METRICS_PORT"],
    [{ EMBEDDING_DIMENSIONS: "0" }, "EMBEDDING_DIMENSIONS"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    [{ DATABASE_URL: "not a url" }, "DATABASE_URL"],
    [{ QDRANT_COLLECTION_NAME: "bad name!" }, "QDRANT_COLLECTION_NAME"],
    [{ GRPC_REFLECTION: "maybe" }, "GRPC_REFLECTION"],
    [{ TLS_CERT_FILE: "/tmp/cert.pem" }, "TLS_KEY_FILE"],
  ];
  for (const [env, variable] of bad) {
    it(`refuses ${JSON.stringify(env)} naming ${variable}`, () => {
      let error: unknown;
      try {
        loadConfig(env);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe(variable);
      expect((error as ConfigError).message).toContain(variable);
      expect((error as ConfigError).message).not.toContain("\n");
    });
  }

  it("never echoes a URL value, which may carry a password", () => {
    expect(() => loadConfig({ DATABASE_URL: "postgres://u:secret@@ho st" })).toThrow(
      /^invalid configuration: DATABASE_URL is not a valid URL$/,
    );
  });
});
