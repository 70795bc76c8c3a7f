import { Code, ConnectError } from "@connectrpc/connect";
import type { Mutation, MutationResult } from "./mutation.js";
import { Storage } from "./storage.js";

/**
 * Where applied mutations are recorded. `record` is called in apply order and queues the record at
 * once; it resolves once the record is written to the file (handed to the OS), or with `durable` once
 * it is on stable storage.
 */
export interface Journal {
  record(mutation: Mutation, durable: boolean): Promise<void>;
}

/**
 * Applies a mutation to memory (validated all-or-nothing by `Storage`), then records it. A mutation
 * that fails after changing something (an `UpdateBatch` whose third operation is bad, like Qdrant,
 * keeps the first two) is still recorded so recovery reaches the same state.
 *
 * Mutations run one at a time, in call order, so the log order is the apply order. A large upsert is
 * applied in slices (`Storage.applySteps`) with the event loop free in between: searches, health
 * checks and, in-process, the service's own requests are served meanwhile (they may see some of its
 * points before the rest; Qdrant's readers may too). Later mutations wait for it. Nothing about
 * acknowledgement changes: `wait` still resolves only once the record is on stable storage.
 */
export class Engine {
  readonly storage = new Storage();
  private journal: Journal | undefined;
  /** The latest record's completion, for `flushed()`. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Set while a mutation is being applied; later ones queue here, in order. */
  private busy = false;
  private readonly queued: (() => void)[] = [];

  attach(journal: Journal): void {
    this.journal = journal;
  }

  /** Set when the journal failed: memory may be ahead of disk, so no further write is accepted. */
  private broken: ConnectError | undefined;

  async execute(mutation: Mutation, wait: boolean): Promise<MutationResult> {
    this.refuseIfBroken();
    if (this.busy) {
      await new Promise<void>((resolve) => this.queued.push(resolve)); // handed over busy
    } else {
      this.busy = true;
    }
    let recorded: Promise<void> | undefined;
    let result: MutationResult | undefined;
    let failure: { error: unknown } | undefined;
    try {
      this.refuseIfBroken(); // the journal may have failed while this one waited
      const before = this.storage.changes;
      try {
        const steps = this.storage.applySteps(mutation);
        let step = steps.next();
        while (step.done !== true) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          step = steps.next();
        }
        result = step.value;
      } catch (error) {
        failure = { error };
      }
      if (this.journal !== undefined && this.storage.changes !== before) {
        try {
          recorded = this.journal.record(mutation, wait);
        } catch (error) {
          throw this.fail(error);
        }
      }
    } finally {
      const next = this.queued.shift();
      if (next === undefined) this.busy = false;
      else next();
    }
    if (recorded !== undefined) {
      // A failed fsync may have dropped written pages ("fsyncgate"): refuse writes from then on too.
      const guarded = recorded.catch((error: unknown) => {
        throw this.fail(error);
      });
      this.tail = guarded.catch(() => undefined);
      // Acknowledged once written (wait=false: handed to the OS, as before) or synced (wait=true).
      await guarded;
    }
    if (failure !== undefined) throw failure.error;
    return result!;
  }

  private refuseIfBroken(): void {
    if (this.broken !== undefined) throw this.broken;
  }

  private fail(error: unknown): ConnectError {
    this.broken ??= new ConnectError(
      `Service internal error: could not write the update log (${(error as Error).message}); restart the server to recover from the data directory`,
      Code.Internal,
    );
    return this.broken;
  }

  /** Resolves when everything recorded so far has been handed to the journal. */
  async flushed(): Promise<void> {
    await this.tail;
  }
}
