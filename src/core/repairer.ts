import type { Logger } from "pino";
import type { MetadataStore } from "../stores/metadata-store.js";
import type { WritePath } from "./write-path.js";

export interface RepairerDeps {
  metadata: MetadataStore;
  writePath: WritePath;
  logger: Logger;
  /** Pause between passes when the last one found nothing to do (or failed). */
  intervalMs: number;
  /** Intents looked at per pass: bounds the work (and the locks held) of one pass. */
  batch: number;
  /** Intents still recorded after a pass (a write in progress or one that could not be finished yet). */
  onPending?: (count: number) => void;
}

export interface Repairer {
  start(): void;
  /** Stops after the pass in progress. */
  stop(): Promise<void>;
  /** One bounded pass: finishes the writes that died half-way, skipping ids a live write holds. */
  runOnce(): Promise<number>;
}

/**
 * The background half of the write path (core/write-path.ts): finishes, from their intent records,
 * writes that stopped half-way and whose request could not finish them (the process died, or a store
 * was down through its own retry). It never touches a write in progress: an id whose lock is held is
 * skipped (try-lock), not waited for and not judged by age.
 */
export function createRepairer(deps: RepairerDeps): Repairer {
  const { metadata, writePath, logger } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = true;

  async function runOnce(): Promise<number> {
    const ids = await metadata.listIntentIds(deps.batch);
    if (ids.length === 0) {
      deps.onPending?.(0);
      return 0;
    }
    const finished = await metadata.withLocks({ ids, skipLocked: true }, (store, locked) =>
      writePath.finishIntents(store, locked),
    );
    deps.onPending?.(await metadata.countIntents());
    return finished;
  }

  function schedule(delay: number): void {
    if (stopped) {
      return;
    }
    timer = setTimeout(() => {
      running = runOnce().then(
        (finished) => schedule(finished >= deps.batch ? 0 : deps.intervalMs),
        (error: unknown) => {
          logger.warn({ err: error }, "repairer pass failed; retrying on the next pass");
          schedule(deps.intervalMs);
        },
      );
    }, delay);
    timer.unref();
  }

  return {
    start() {
      if (stopped) {
        stopped = false;
        schedule(deps.intervalMs);
      }
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
    runOnce,
  };
}
