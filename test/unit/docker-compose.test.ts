import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ConfigError, loadConfig } from "../../src/config.js";

// No Docker engine runs on these machines, so the compose file, Dockerfile, .dockerignore and build
// config are checked as data: what is published, which secrets are required, how the service is
// stopped, and that the environment compose gives the service is one src/config.ts accepts (or refuses).
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
const compose = parse(read("docker-compose.yml"));
const configSource = read("src/config.ts");
const dockerfile = read("Dockerfile");
const services = compose.services as Record<string, Record<string, any>>;

/**
 * Compose's variable interpolation for the forms this file uses: `${X}`, `${X:-default}`,
 * `${X:?message}` (an error when X is unset or empty), and `$$` for a literal `$`.
 */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(
    /\$\$|\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g,
    (match, name: string | undefined, op: string | undefined, arg: string | undefined) => {
      if (match === "$$") return "$";
      const current = env[name as string];
      const empty = current === undefined || current === "";
      if (op === "-") return empty ? (arg as string) : current;
      if (op === "?") {
        if (empty) throw new Error(`required variable ${name} is missing a value: ${arg}`);
        return current;
      }
      return current ?? "";
    },
  );
}

/** The service's environment as compose would pass it, given the operator's .env. */
function serviceEnvironment(env: Record<string, string>): Record<string, string> {
  const raw = services.embeddings.environment as Record<string, string>;
  return Object.fromEntries(Object.entries(raw).map(([key, value]) => [key, interpolate(String(value), env)]));
}

/** "30s", "1m30s", "500ms" -> milliseconds (compose duration syntax). */
function durationMs(text: string): number {
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(amount) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as "ms" | "s" | "m" | "h"];
  }
  return total;
}

const SECRETS = { POSTGRES_PASSWORD: "pg-secret", QDRANT_API_KEY: "qdrant-secret" };

describe("docker-compose.yml", () => {
  it("runs postgres:16, a pinned Qdrant and the service built from the Dockerfile", () => {
    expect(services.postgres.image).toBe("postgres:16");
    expect(services.qdrant.image).toMatch(/^qdrant\/qdrant:v\d+\.\d+\.\d+$/);
    expect(services.embeddings.build).toBe(".");
    expect(dockerfile).toContain("dist/src/main.js");
  });

  it("publishes only the service's ports on every interface; databases on 127.0.0.1 only", () => {
    expect(services.embeddings.ports).toEqual(["50051:50051", "9464:9464"]);
    for (const [name, service] of Object.entries(services)) {
      if (name === "embeddings") continue;
      for (const port of (service.ports ?? []) as string[]) {
        expect(port, `${name} publishes ${port}`).toMatch(/^127\.0\.0\.1:/);
      }
    }
    const published = (name: string) => (services[name].ports as string[]).map((port) => interpolate(port, {}));
    expect(published("postgres")).toEqual(["127.0.0.1:5432:5432"]);
    expect(published("qdrant")).toEqual(["127.0.0.1:6333:6333", "127.0.0.1:6334:6334"]);
  });

  it("requires a Postgres password and a Qdrant API key, and gives the same key to Qdrant, the service and Prometheus", () => {
    expect(() => serviceEnvironment({ QDRANT_API_KEY: "k" })).toThrow(/POSTGRES_PASSWORD/);
    expect(() => serviceEnvironment({ POSTGRES_PASSWORD: "p" })).toThrow(/QDRANT_API_KEY/);
    expect(() => interpolate(services.qdrant.environment.QDRANT__SERVICE__API_KEY, {})).toThrow(/QDRANT_API_KEY/);
    expect(() => interpolate(services.postgres.environment.POSTGRES_PASSWORD, {})).toThrow(/POSTGRES_PASSWORD/);

    expect(interpolate(services.qdrant.environment.QDRANT__SERVICE__API_KEY, SECRETS)).toBe("qdrant-secret");
    const environment = serviceEnvironment({ ...SECRETS, OPENAI_API_KEY: "sk-1" });
    expect(environment.QDRANT_API_KEY).toBe("qdrant-secret");
    expect(loadConfig(environment).qdrant.apiKey).toBe("qdrant-secret");

    // Prometheus reads the key from a secret whose content is QDRANT_API_KEY, as a bearer token.
    expect(services.prometheus.secrets).toEqual(["qdrant_api_key"]);
    expect(compose.secrets.qdrant_api_key).toEqual({ environment: "QDRANT_API_KEY" });
    const scrape = parse(compose.configs.prometheus.content);
    const qdrantJob = scrape.scrape_configs.find((job: { job_name: string }) => job.job_name === "qdrant");
    expect(qdrantJob.authorization).toEqual({ type: "Bearer", credentials_file: "/run/secrets/qdrant_api_key" });
    expect(qdrantJob.static_configs[0].targets).toEqual(["qdrant:6333"]);
  });

  it("refuses to start the service with an empty OPENAI_API_KEY unless the local embedder is chosen", () => {
    const withoutKey = serviceEnvironment({ ...SECRETS, OPENAI_API_KEY: "" });
    expect(withoutKey.EMBEDDING_PROVIDER).toBe("openai");
    let caught: unknown;
    try {
      loadConfig(withoutKey);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).variable).toBe("OPENAI_API_KEY");

    expect(loadConfig(serviceEnvironment({ ...SECRETS, OPENAI_API_KEY: "sk-2" })).openai?.apiKey).toBe("sk-2");
    expect(loadConfig(serviceEnvironment({ ...SECRETS, EMBEDDING_PROVIDER: "local" })).openai).toBeUndefined();
  });

  it("restarts every service unless stopped, and drains for less than the stop grace period", () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.restart, name).toBe("unless-stopped");
    }
    const config = loadConfig(serviceEnvironment({ ...SECRETS, OPENAI_API_KEY: "sk-3" }));
    const stopGraceMs = durationMs(services.embeddings.stop_grace_period);
    expect(stopGraceMs).toBeGreaterThan(0);
    // Docker's default stop timeout is 10 s; the drain must end (with time to close pools) before SIGKILL.
    expect(config.grpc.shutdownGraceMs).toBeLessThan(stopGraceMs);
    expect(stopGraceMs - config.grpc.shutdownGraceMs).toBeGreaterThanOrEqual(5_000);
  });

  it("gives every service a health check and starts the service after healthy stores", () => {
    for (const name of ["postgres", "qdrant", "embeddings"]) {
      expect(services[name].healthcheck?.test, name).toBeDefined();
    }
    // The service's check runs inside the image with node alone (test/integration/http1.test.ts runs it).
    expect(services.embeddings.healthcheck.test.slice(0, 3)).toEqual(["CMD", "node", "-e"]);
    expect(services.embeddings.depends_on).toEqual({
      postgres: { condition: "service_healthy" },
      qdrant: { condition: "service_healthy" },
    });
  });

  it("wires the service with variables that src/config.ts actually reads", () => {
    const environment = services.embeddings.environment as Record<string, string>;
    expect(Object.keys(environment)).toEqual(
      expect.arrayContaining([
        "POSTGRES_HOST",
        "POSTGRES_PASSWORD",
        "QDRANT_HOST",
        "QDRANT_GRPC_PORT",
        "QDRANT_COLLECTION_NAME",
        "OPENAI_API_KEY",
        "GRPC_PORT",
        "METRICS_PORT",
      ]),
    );
    for (const variable of Object.keys(environment)) {
      expect(configSource, `${variable} is not read by loadConfig`).toContain(`"${variable}"`);
    }
    const config = loadConfig(serviceEnvironment({ ...SECRETS, OPENAI_API_KEY: "sk-4" }));
    expect(config.qdrant.host).toBe("qdrant");
    expect(config.postgres.url).toBe("postgres://dq:pg-secret@postgres:5432/dq");
    expect(config.grpc.port).toBe(50051);
  });

  it("has Prometheus in a profile, scraping the service and Qdrant", () => {
    expect(services.prometheus.profiles).toEqual(["monitoring"]);
    const scrape = parse(compose.configs.prometheus.content);
    const targets = scrape.scrape_configs.flatMap((job: { static_configs: Array<{ targets: string[] }> }) =>
      job.static_configs.flatMap((c) => c.targets),
    );
    expect(targets).toEqual(expect.arrayContaining(["embeddings:9464", "qdrant:6333"]));
  });
});

describe("the image", () => {
  it("builds and runs on Node 22 LTS, as package.json's engines says", () => {
    const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((match) => match[1]);
    expect(froms.length).toBeGreaterThan(0);
    for (const image of froms) {
      expect(image).toMatch(/^node:22[.-]/);
    }
    const pkg = JSON.parse(read("package.json"));
    expect(pkg.engines.node).toBe(">=22");
  });

  it("compiles only src/ and gen/ (tsconfig.build.json) and copies no tests or benchmarks", () => {
    const build = JSON.parse(read("tsconfig.build.json").replace(/^\s*\/\/.*$/gm, ""));
    expect(build.include).toEqual(["src", "gen"]);
    expect(build.compilerOptions.noEmit).toBe(false);
    expect(JSON.parse(read("package.json")).scripts.build).toBe("tsc -p tsconfig.build.json");
    expect(dockerfile).toContain("tsconfig.build.json");
    expect(dockerfile).not.toMatch(/^COPY\s+(test|bench|vitest)/m);
  });

  it("keeps node_modules, dist, .git and local secrets out of the build context", () => {
    const ignored = read(".dockerignore")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#"));
    expect(ignored).toEqual(expect.arrayContaining(["node_modules", "dist", ".git", ".env", "test", "bench"]));
  });
});
