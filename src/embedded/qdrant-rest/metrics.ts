import { Gauge, Registry } from "prom-client";
import type { Storage } from "../qdrant/storage.js";

/**
 * Qdrant's own metric names (src/common/metrics.rs in qdrant/qdrant) for what the embedded server has:
 * build info, collection and point counts, vectors by name, and the gauges that are always zero here
 * (one node, no optimizer, no update queue). Values are read from storage at scrape time.
 */
export function createQdrantMetrics(storage: () => Storage | undefined, version: string): Registry {
  const registry = new Registry();
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        collect(this);
      },
    });

  gauge("app_info", "server name and version (always 1)", ["name", "version"], (g) =>
    g.set({ name: "qdrant", version }, 1),
  );
  gauge("app_status_recovery_mode", "1 when the server runs in recovery mode (never, here)", [], (g) => g.set(0));
  gauge("collections_total", "collections on this server", [], (g) => g.set(storage()?.collections.size ?? 0));
  gauge("collections_vector_total", "vectors stored, all collections and names together", [], (g) => {
    let total = 0;
    for (const counts of vectorCounts(storage())) total += counts.count;
    g.set(total);
  });
  gauge("collection_vectors", "vectors stored per collection and vector name", ["collection", "vector"], (g) => {
    for (const { collection, vector, count } of vectorCounts(storage())) g.set({ collection, vector }, count);
  });
  gauge("collection_points", "points per collection", ["id"], (g) => {
    for (const [name, collection] of storage()?.collections ?? []) g.set({ id: name }, collection.pointsCount);
  });
  gauge(
    "collection_running_optimizations",
    "optimizations running per collection (none: exact storage)",
    ["id"],
    (g) => {
      for (const name of storage()?.collections.keys() ?? []) g.set({ id: name }, 0);
    },
  );
  gauge("collection_update_queue_length", "updates waiting per collection (none: applied in the call)", ["id"], (g) => {
    for (const name of storage()?.collections.keys() ?? []) g.set({ id: name }, 0);
  });
  gauge("collection_dead_replicas", "replicas not active (one local replica, always active)", [], (g) => g.set(0));
  gauge("cluster_enabled", "1 when distributed mode is on (never, here)", [], (g) => g.set(0));
  return registry;
}

/** Stored vectors per collection and vector name (a point may lack a named vector). */
function* vectorCounts(storage: Storage | undefined): Generator<{ collection: string; vector: string; count: number }> {
  for (const [name, collection] of storage?.collections ?? []) {
    const names = [...collection.dense.keys(), ...collection.sparse.keys()];
    const counts = new Map<string, number>(names.map((vector) => [vector, 0]));
    for (const offset of collection.liveOffsets()) {
      for (const vector of names) {
        if (collection.hasVector(vector, offset)) counts.set(vector, (counts.get(vector) ?? 0) + 1);
      }
    }
    for (const [vector, count] of counts) yield { collection: name, vector, count };
  }
}
