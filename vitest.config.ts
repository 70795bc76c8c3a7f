import { defineConfig } from "vitest/config";

// Three projects: `unit` does no I/O; `integration` starts real servers (Postgres, the embedded
// Qdrant, the whole app on port 0); `conformance` drives the real QdrantClient against the embedded
// server, and against a real Qdrant when QDRANT_URL or QDRANT_HOST is set.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 120_000,
          globalSetup: ["test/helpers/global-setup.ts"],
        },
      },
      {
        test: {
          name: "conformance",
          include: ["test/conformance/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
