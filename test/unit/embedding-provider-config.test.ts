import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("EMBEDDING_PROVIDER", () => {
  it("auto (the default) uses OpenAI when a key is set and the local embedder otherwise", () => {
    expect(loadConfig({}).openai).toBeUndefined();
    expect(loadConfig({ OPENAI_API_KEY: "sk-x" }).openai?.apiKey).toBe("sk-x");
  });

  it("openai refuses an empty or missing key with one line naming OPENAI_API_KEY", () => {
    for (const env of [{ EMBEDDING_PROVIDER: "openai" }, { EMBEDDING_PROVIDER: "openai", OPENAI_API_KEY: "  " }]) {
      let caught: unknown;
      try {
        loadConfig(env);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).variable).toBe("OPENAI_API_KEY");
      expect((caught as Error).message).toBe(
        "invalid configuration: OPENAI_API_KEY must be set when EMBEDDING_PROVIDER is openai (set EMBEDDING_PROVIDER=local to run the local embedder instead)",
      );
    }
    expect(loadConfig({ EMBEDDING_PROVIDER: "openai", OPENAI_API_KEY: "sk-y" }).openai?.apiKey).toBe("sk-y");
  });

  it("local ignores a key, and an unknown provider is refused", () => {
    expect(loadConfig({ EMBEDDING_PROVIDER: "local", OPENAI_API_KEY: "sk-z" }).openai).toBeUndefined();
    expect(() => loadConfig({ EMBEDDING_PROVIDER: "cohere" })).toThrow(
      'invalid configuration: EMBEDDING_PROVIDER must be one of auto, openai, local, got "cohere"',
    );
  });
});
