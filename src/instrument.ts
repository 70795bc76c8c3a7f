import { DomainError } from "./core/errors.js";
import type { Embedder } from "./embedders/embedder.js";
import type { Metrics } from "./metrics.js";

/**
 * Metric decorators applied in the composition root, so stores, embedders and the core stay free of
 * metrics code: each store call records its duration, its batch size (the length of an array first
 * argument) and its failures by error kind.
 */
export function instrumentStore<T extends object>(store: T, name: "postgres" | "qdrant", metrics: Metrics): T {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || typeof property !== "string") {
        return value;
      }
      if (property === "withLocks") {
        // Writes run on the store bound to the locked connection: measure it too.
        return (keys: unknown, fn: (store: T, locked: string[]) => Promise<unknown>) =>
          (value as (keys: unknown, run: (store: T, locked: string[]) => Promise<unknown>) => Promise<unknown>).call(
            target,
            keys,
            (bound: T, locked: string[]) => fn(instrumentStore(bound, name, metrics), locked),
          );
      }
      if (property === "transaction") {
        // The store bound to the transaction is measured too: most writes happen on it.
        return (fn: (store: T) => Promise<unknown>) =>
          (value as (run: (store: T) => Promise<unknown>) => Promise<unknown>).call(target, (bound: T) =>
            fn(instrumentStore(bound, name, metrics)),
          );
      }
      return async (...args: unknown[]) => {
        const labels = { store: name, operation: property };
        const stop = metrics.storeSeconds.startTimer(labels);
        if (Array.isArray(args[0])) {
          metrics.storeBatchSize.observe(labels, args[0].length);
        }
        try {
          return await (value as (...callArgs: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (error) {
          metrics.storeErrors.inc({ ...labels, kind: error instanceof DomainError ? error.kind : "unknown" });
          throw error;
        } finally {
          stop();
        }
      };
    },
  });
}

export function instrumentEmbedder(embedder: Embedder, metrics: Metrics): Embedder {
  return {
    name: embedder.name,
    model: embedder.model,
    dimensions: embedder.dimensions,
    relevanceFloor: embedder.relevanceFloor,
    countTokens: (text, limit) => embedder.countTokens(text, limit),
    async embed(inputs, options) {
      const labels = { embedder: embedder.name };
      const stop = metrics.embeddingSeconds.startTimer(labels);
      try {
        const vectors = await embedder.embed(inputs, options);
        metrics.embeddingCalls.inc({ ...labels, outcome: "ok" });
        metrics.embeddingInputs.inc(labels, inputs.length);
        // The embedder's own count: texts are not tokenized a second time for the metric.
        metrics.embeddingTokens.inc(labels, vectors.tokens);
        return vectors;
      } catch (error) {
        metrics.embeddingCalls.inc({ ...labels, outcome: error instanceof DomainError ? error.kind : "unknown" });
        throw error;
      } finally {
        stop();
      }
    },
  };
}
