import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

// No Docker engine runs on these machines, so the compose file is checked as data: services, images,
// ports, health checks and the variables the service reads (src/config.ts).
const compose = parse(readFileSync(new URL("../../docker-compose.yml", import.meta.url), "utf8"));
const configSource = readFileSync(new URL("../../src/config.ts", import.meta.url), "utf8");

describe("docker-compose.yml", () => {
  it("runs postgres:16, a pinned Qdrant and the service built from the Dockerfile", () => {
    expect(compose.services.postgres.image).toBe("postgres:16");
    expect(compose.services.qdrant.image).toMatch(/^qdrant\/qdrant:v\d+\.\d+\.\d+$/);
    expect(compose.services.embeddings.build).toBe(".");
    expect(readFileSync(new URL("../../Dockerfile", import.meta.url), "utf8")).toContain("dist/src/main.js");
  });

  it("publishes Qdrant's HTTP and gRPC ports with a volume and passes the API key through", () => {
    expect(compose.services.qdrant.ports).toEqual(expect.arrayContaining(["6333:6333", "6334:6334"]));
    expect(compose.services.qdrant.volumes[0]).toMatch(/:\/qdrant\/storage$/);
    expect(compose.services.qdrant.environment.QDRANT__SERVICE__API_KEY).toBe("${QDRANT_API_KEY:-}");
    expect(compose.services.embeddings.environment.QDRANT_API_KEY).toBe("${QDRANT_API_KEY:-}");
  });

  it("gives every service a health check and starts the service after healthy stores", () => {
    for (const name of ["postgres", "qdrant", "embeddings"]) {
      expect(compose.services[name].healthcheck?.test, name).toBeDefined();
    }
    expect(compose.services.embeddings.depends_on).toEqual({ postgres: { condition: "service_healthy" }, qdrant: { condition: "service_healthy" } });
  });

  it("wires the service with variables that src/config.ts actually reads", () => {
    const environment = compose.services.embeddings.environment as Record<string, string>;
    expect(Object.keys(environment)).toEqual(
      expect.arrayContaining(["POSTGRES_HOST", "POSTGRES_PASSWORD", "QDRANT_HOST", "QDRANT_GRPC_PORT", "QDRANT_COLLECTION_NAME", "OPENAI_API_KEY", "GRPC_PORT", "METRICS_PORT"]),
    );
    for (const variable of Object.keys(environment)) {
      expect(configSource, `${variable} is not read by loadConfig`).toContain(`"${variable}"`);
    }
    expect(environment.QDRANT_HOST).toBe("qdrant");
    expect(environment.POSTGRES_HOST).toBe("postgres");
    expect(compose.services.embeddings.ports).toEqual(expect.arrayContaining(["50051:50051", "9464:9464"]));
  });

  it("has Prometheus in a profile, scraping the service and Qdrant", () => {
    expect(compose.services.prometheus.profiles).toEqual(["monitoring"]);
    const scrape = parse(compose.configs.prometheus.content);
    const targets = scrape.scrape_configs.flatMap((job: { static_configs: Array<{ targets: string[] }> }) => job.static_configs.flatMap((c) => c.targets));
    expect(targets).toEqual(expect.arrayContaining(["embeddings:9464", "qdrant:6333"]));
  });
});
