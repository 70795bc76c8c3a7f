import { Code, ConnectError } from "@connectrpc/connect";
import type { Mutation, MutationResult } from "./mutation.js";
import { Storage } from "./storage.js";

/** Where applied mutations are recorded; `durable` resolves once the record is on stable storage. */
export interface Journal {
  record(mutation: Mutation, durable: boolean): Promise<void>;
}

/**
 * Applies a mutation to memory (validated all-or-nothing by `Storage`), then records it. A mutation
 * that fails after changing something (an `UpdateBatch` whose third operation is bad, like Qdrant,
 * keeps the first two) is still recorded so recovery reaches the same state.
 */
export class Engine {
  readonly storage = new Storage();
  private journal: Journal | undefined;
  /**
   * The latest record's completion, for `flushed()`. Order needs no lock: `apply` and the journal's
   * append both run synchronously, so the log order is the apply order.
   */
  private tail: Promise<unknown> = Promise.resolve();

  attach(journal: Journal): void {
    this.journal = journal;
  }

  /** Set when the journal failed: memory may be ahead of disk, so no further write is accepted. */
  private broken: ConnectError | undefined;

  async execute(mutation: Mutation, wait: boolean): Promise<MutationResult> {
    if (this.broken !== undefined) throw this.broken;
    const before = this.storage.changes;
    let result: MutationResult | undefined;
    let failure: { error: unknown } | undefined;
    try {
      result = this.storage.apply(mutation);
    } catch (error) {
      failure = { error };
    }
    if (this.journal !== undefined && this.storage.changes !== before) {
      let recorded: Promise<void>;
      try {
        recorded = this.journal.record(mutation, wait);
      } catch (error) {
        throw this.fail(error);
      }
      // A failed fsync may have dropped written pages ("fsyncgate"): refuse writes from then on too.
      const guarded = recorded.catch((error: unknown) => {
        throw this.fail(error);
      });
      this.tail = guarded.catch(() => undefined);
      if (wait) await guarded;
    }
    if (failure !== undefined) throw failure.error;
    return result!;
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
