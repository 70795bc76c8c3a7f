import type { Logger } from "pino";
import type { Engine } from "./engine.js";

/** Placeholder until the write-ahead log lands: refuses to pretend a data directory is durable. */
export async function openDurability(engine: Engine, dataDir: string, log: Logger): Promise<() => Promise<void>> {
  void engine;
  log.warn({ dataDir }, "embedded Qdrant: durability not available yet, data is kept in memory only");
  return async () => {};
}
