import { defineConfig } from "vitest/config";

const integration = {
  environment: "node",
  testTimeout: 60_000,
  hookTimeout: 120_000,
  globalSetup: ["test/helpers/global-setup.ts"],
};

/** Runs PGlite's pgvector compute for seconds: V8's optimizing tier pays for itself there. */
const PGVECTOR_MIGRATION = "test/integration/migrate-pgvector.test.ts";

// Four projects: `unit` does no I/O; `integration` starts real servers (Postgres, the embedded Qdrant,
// the whole app on port 0), and `integration-pgvector` is its pgvector migration file; `conformance`
// drives the real QdrantClient against the embedded server, and against a real Qdrant when QDRANT_URL
// or QDRANT_HOST is set. `npm run test:integration` runs both integration projects.
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
          exclude: [PGVECTOR_MIGRATION],
          ...integration,
          // Files here start PGlite and run a few queries each: baseline code only, as `npm start` does
          // (src/main.ts), boots it without a second core busy optimizing code that runs once.
          execArgv: ["--liftoff-only"],
        },
      },
      {
        test: {
          name: "integration-pgvector",
          include: [PGVECTOR_MIGRATION],
          ...integration,
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
