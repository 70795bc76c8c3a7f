// The core (write path, ingest, bulk delete, reconcile, repairer) on in-memory stores, with switches that
// fail a store call on purpose: unit tests decide exactly which step fails and in what order.
import { pino } from "pino";
import { createBulkDelete } from "../../src/core/bulk-delete.js";
import { UnavailableError } from "../../src/core/errors.js";
import { createIngest, type UpsertInput } from "../../src/core/ingest.js";
import { createReconcile } from "../../src/core/reconcile.js";
import { createRepairer } from "../../src/core/repairer.js";
import { createWritePath, type WriteHooks } from "../../src/core/write-path.js";
import { withTokens, type Embedder } from "../../src/embedders/embedder.js";
import type { VectorStore } from "../../src/stores/vector-store.js";
import { createInMemoryMetadataStore, createInMemoryVectorStore } from "./in-memory-stores.js";

export const DIMENSIONS = 4;
export const MODEL = "unit-test-model";

/** A deterministic unit vector of a text: the same text always gives the same vector. */
export function vectorOf(text: string): Float32Array {
  const vector = new Float32Array(DIMENSIONS);
  for (let i = 0; i < text.length; i++) vector[i % DIMENSIONS] += text.charCodeAt(i);
  const norm = Math.hypot(...vector);
  return vector.map((value) => value / norm);
}

export function createCoreFixture(options: { hooks?: WriteHooks } = {}) {
  const logger = pino({ level: "silent" });
  const metadata = createInMemoryMetadataStore();
  const points = createInMemoryVectorStore(DIMENSIONS);
  /** Vector store operations that fail (UNAVAILABLE) while listed here. */
  const failing = new Set<keyof VectorStore>();
  const calls: Array<keyof VectorStore> = [];
  const vectors = new Proxy(points, {
    get(target, property: keyof VectorStore, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        calls.push(property);
        if (failing.has(property)) throw new UnavailableError("qdrant", `${property} failed on purpose`);
        return (value as (...callArgs: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
  const embedded: string[] = [];
  const embedder: Embedder = {
    name: "local",
    relevanceFloor: 0,
    model: MODEL,
    dimensions: DIMENSIONS,
    countTokens: (text) => text.length,
    embed: async (inputs) => {
      embedded.push(...inputs.map((input) => input.text));
      return withTokens(
        inputs.map((input) => vectorOf(input.text)),
        inputs.reduce((sum, input) => sum + input.text.length, 0),
      );
    },
  };
  const writePath = createWritePath({ metadata, vectors, logger, hooks: options.hooks });
  const ingest = createIngest({ metadata, vectors, embedder, logger, writePath });
  return {
    metadata,
    points,
    vectors,
    failing,
    calls,
    embedded,
    embedder,
    writePath,
    ingest,
    bulkDelete: createBulkDelete({ metadata, vectors, ingest, writePath }),
    reconcile: createReconcile({ metadata, vectors, embedder, logger, writePath }),
    repairer: createRepairer({ metadata, writePath, logger, intervalMs: 1_000, batch: 100 }),
  };
}

export function input(catalogId: string, id: string, overrides: Partial<UpsertInput> = {}): UpsertInput {
  return {
    id,
    catalogId,
    kind: "table",
    content: `Table: orders ${id}`,
    metadata: { source: "unit" },
    schemaName: "sales",
    tableName: "orders",
    ...overrides,
  };
}
