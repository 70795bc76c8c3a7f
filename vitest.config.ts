import { defineConfig } from "vitest/config";

// Three projects: `unit` does no I/O; `integration` starts real servers (Postgres, the embedded
// Qdrant, the whole app on port 0); `conformance` drives the real QdrantClient against the embedded
// server, and against a real Qdrant when QDRANT_URL or QDRANT_HOST is set.
export default defineConfig({
  test: {
    // Two files at once even on two cores (vitest's default there is one): integration files spend much
    // of their time waiting on sockets, Postgres and child processes.
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
          // Pure code without mocks or module state: the files share a worker's loaded modules instead
          // of importing them again each.
          isolate: false,
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
          // PGlite on baseline WebAssembly code, as `npm start` runs it (src/main.ts): most files start
          // it and run a few queries, where optimizing code that runs once only kept a core busy.
          execArgv: ["--liftoff-only"],
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
