/**
 * THE write path: the one place that keeps Postgres and Qdrant in step. Every operation that changes
 * either store (upsert, batch, stream, catalog sync, delete, batch delete, catalog delete, status,
 * cleanup, reconcile's repairs and the background repairer) goes through `runWrite` / `finishIntents`
 * here. Its correctness depends on no timing:
 *
 * 1. Locks. A write takes Postgres advisory locks on its ids (and catalog sync / catalog delete on the
 *    catalog first), on one reserved connection, for the WHOLE write across both stores. Writers,
 *    reconcile and the repairer take the same locks, so at most one of them works on an id at a time.
 *    A dead connection loses its locks in Postgres, so a crashed writer never blocks anyone.
 * 2. Plan under the lock, from what the locked read returns (never from a read before it). The tenant
 *    guard is also in the statement (`ON CONFLICT ... WHERE stored.catalog_id = excluded.catalog_id`).
 * 3. Intent before Qdrant. Before Qdrant sees anything, the write commits an intent per id to
 *    `dq_write_intents`: the target row, and for an update of an existing row the exact vector. The
 *    intent is deleted in the same transaction that makes the write final. "An intent exists and nobody
 *    holds the id's lock" means exactly "a write died half-way", and the intent says how to resolve it:
 *    an update rolls FORWARD with the recorded vector (nothing is re-embedded, a caller's precomputed
 *    vector is never replaced); a create, which has no earlier state to keep, rolls BACK (its point,
 *    if written, is deleted), unless the request itself finishes it (it still holds the vector).
 * 4. Before its own work, every write (and every repair) finishes any dead intent of its ids, so a
 *    retry converges and never answers UNCHANGED for an embedding whose point is missing or pending.
 *
 * Order per operation, and what a crash at each step leaves (who repairs it):
 *
 *   upsert   a. lock, finish old intents, read rows, plan, embed   crash: nothing written
 *            b. COMMIT intents (target row + vector)               crash: intent; stores unchanged
 *            c. Qdrant upsert (point = target)                     crash: intent; point may be new,
 *                                                                   row still old
 *            d. COMMIT rows + delete intents                       crash before commit: as (c);
 *                                                                   after: done
 *            Repair of (b)/(c): an update re-sends the point from the intent, then (d); a create
 *            deletes its point and intent. The request itself finishes forward after a failure of
 *            (c)/(d) when the stores answer (an ambiguous COMMIT resolves: intent gone = committed);
 *            otherwise the repairer resolves it. Retrieval reads rows, so it serves the old,
 *            acknowledged content until (d), and never a create that did not finish.
 *   delete   a. lock, finish old intents
 *            b. COMMIT: delete rows (of the caller's catalog) + delete intents   crash: row gone, point
 *                                                                   left: retrieval drops hits
 *                                                                   without rows
 *            c. Qdrant delete, then drop the intents               repair: delete the point
 *   status   a. lock, finish old intents
 *            b. COMMIT: row status + status intents                retrieval checks the row's
 *                                                                   status, so a rejected chunk is
 *                                                                   never served from here on
 *            c. Qdrant payload status, then drop the intents       repair: copy the row's status
 *
 * A caller's cancel or deadline stops a write only before (b): after the intent is committed the write
 * runs to its end (bounded by the stores' own timeouts), so a cancel never leaves anything half-written.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { LockKeys, MetadataStore } from "../stores/metadata-store.js";
import type { VectorStore } from "../stores/vector-store.js";
import { CancelledError, DeadlineExceededError, DomainError, UnavailableError } from "./errors.js";
import { pointOf } from "./points.js";
import type { EmbeddingStatus, WriteIntent } from "./types.js";

/** Tries of a request to finish its own write after a failure, before leaving it to the repairer. */
const SELF_REPAIR_ATTEMPTS = 3;

/** The steps a test hook can observe, fail or stop at (see `WriteHooks`). */
export type WriteStep = "intent-recorded" | "vectors-applied" | "before-apply-commit" | "applied";
export type WriteOp = "upsert" | "delete" | "status";

/**
 * A seam for fault-injection tests: called at each step of every write. Throwing fails the write at that
 * point (the write then tries to resolve itself, as after any failure); resolving to "crash" stops it
 * dead, as if the process died there (no self-repair), leaving only what Postgres and Qdrant hold.
 */
export interface WriteHooks {
  at(step: WriteStep, op: WriteOp, ids: readonly string[]): Promise<void | "crash"> | void | "crash";
}

export interface WritePathDeps {
  metadata: MetadataStore;
  vectors: VectorStore;
  logger: Logger;
  hooks?: WriteHooks;
  /** Observes intents finished by someone other than their own write (request retry, repairer, reconcile). */
  onIntentsFinished?: (count: number) => void;
}

/** The work of one write once its locks are held: `record` commits intents; `apply` makes it final. */
export interface WriteSteps<T> {
  op: WriteOp;
  ids: readonly string[];
  /** Lock the catalogs too (catalog sync / catalog delete hold them already: re-entrant). */
  catalogIds?: readonly string[];
  signal?: AbortSignal;
  /**
   * Under the locks, after old intents are finished: read, plan, embed. Resolving to `done` ends the
   * write; otherwise `record` runs inside the transaction that commits the intents (step b), makes any
   * Postgres-first change there (delete rows, set status) and says which intents to commit.
   */
  plan(
    store: MetadataStore,
  ): Promise<
    { done: T } | { record: (tx: MetadataStore) => Promise<{ intents: Omit<WriteIntent, "writeId">[]; result: T }> }
  >;
  /** Vectors the request holds (creates record none): lets it finish its own write forward. */
  knownVectors?: () => ReadonlyMap<string, Float32Array>;
  /** Qdrant's part (step c); must be idempotent. */
  applyVectors(intents: readonly WriteIntent[]): Promise<void>;
  /** Postgres' final part (step d), inside the transaction that deletes the intents (upserts only). */
  applyRows?(store: MetadataStore, intents: readonly WriteIntent[]): Promise<void>;
}

/** Thrown when a hook says "crash": the write stops as if the process had died (the caller sees UNAVAILABLE). */
export class SimulatedCrash extends UnavailableError {
  constructor(step: WriteStep) {
    super("service", `simulated crash at ${step}`);
    this.name = "SimulatedCrash";
  }
}

export function createWritePath(deps: WritePathDeps) {
  const { metadata, vectors, logger } = deps;

  async function step(name: WriteStep, op: WriteOp, ids: readonly string[]): Promise<void> {
    if ((await deps.hooks?.at(name, op, ids)) === "crash") {
      throw new SimulatedCrash(name);
    }
  }

  /**
   * Rolls forward every intent of these ids. The caller holds their locks, so an intent found here
   * belongs to a write that died: nobody else can be working on it.
   */
  async function finishIntents(
    store: MetadataStore,
    ids: readonly string[],
    known?: ReadonlyMap<string, Float32Array>,
  ): Promise<number> {
    if (ids.length === 0) {
      return 0;
    }
    const found = await store.getIntents(ids);
    if (found.length === 0) {
      return 0;
    }
    // A create recorded no vector: forward if the request still holds it, else back (delete its point).
    const intents = found.map((intent) =>
      intent.op === "upsert" && intent.vector === undefined && known?.has(intent.id)
        ? { ...intent, vector: known.get(intent.id) }
        : intent,
    );
    const upserts = intents.filter(
      (intent) => intent.op === "upsert" && intent.target !== undefined && intent.vector !== undefined,
    );
    const rolledBack = intents.filter(
      (intent) => intent.op === "upsert" && (intent.target === undefined || intent.vector === undefined),
    );
    const deletes = [...intents.filter((intent) => intent.op === "delete"), ...rolledBack];
    const statuses = intents.filter((intent) => intent.op === "status");
    if (upserts.length > 0) {
      await vectors.upsert(upserts.map((intent) => pointOf(intent.target!, intent.vector!)));
    }
    if (deletes.length > 0) {
      await vectors.delete(deletes.map((intent) => intent.id));
    }
    if (statuses.length > 0) {
      const rows = await store.getRows(statuses.map((intent) => intent.id));
      const byStatus = new Map<EmbeddingStatus, string[]>();
      for (const row of rows) {
        byStatus.set(row.status, [...(byStatus.get(row.status) ?? []), row.id]);
      }
      for (const [status, statusIds] of byStatus) {
        await vectors.setStatus(statusIds, status);
      }
    }
    await store.transaction(async (tx) => {
      if (upserts.length > 0) {
        await tx.upsertRows(upserts.map((intent) => intent.target!));
      }
      await tx.deleteIntents(intents.map((intent) => intent.id));
    });
    deps.onIntentsFinished?.(intents.length);
    logger.info(
      {
        intents: intents.length,
        upserts: upserts.length,
        createsRolledBack: rolledBack.length,
        deletes: deletes.length - rolledBack.length,
        statuses: statuses.length,
      },
      "resolved writes that had stopped half-way",
    );
    return intents.length;
  }

  /**
   * Runs one write in the order documented above. After a failure once its intents are committed, it
   * retakes the locks on a fresh connection and finishes them itself; only if that fails too does the
   * caller get UNAVAILABLE (the repairer then finishes the write; a retry is safe and converges).
   */
  async function runWrite<T>(steps: WriteSteps<T>, store: MetadataStore = metadata): Promise<T> {
    throwIfAborted(steps.signal);
    const writeId = randomUUID();
    let recorded: WriteIntent[] | undefined;
    let result: T | undefined;
    const keys: LockKeys = { ids: steps.ids, catalogIds: steps.catalogIds };
    try {
      return await store.withLocks(keys, async (locked) => {
        await finishIntents(locked, steps.ids);
        const planned = await steps.plan(locked);
        if ("done" in planned) {
          return planned.done;
        }
        // The caller's last chance to stop the write cleanly; from here on it finishes.
        throwIfAborted(steps.signal);
        const intents = await locked.transaction(async (tx) => {
          const recording = await planned.record(tx);
          result = recording.result;
          const stamped = recording.intents.map((intent) => ({ ...intent, writeId }));
          await tx.putIntents(stamped);
          return stamped;
        });
        if (intents.length === 0) {
          return result as T;
        }
        recorded = intents;
        const ids = intents.map((intent) => intent.id);
        await step("intent-recorded", steps.op, ids);
        await steps.applyVectors(intents);
        await step("vectors-applied", steps.op, ids);
        await locked.transaction(async (tx) => {
          await steps.applyRows?.(tx, intents);
          await tx.deleteIntents(ids, { writeId });
          await step("before-apply-commit", steps.op, ids);
        });
        await step("applied", steps.op, ids);
        return result as T;
      });
    } catch (error) {
      if (
        recorded === undefined ||
        error instanceof SimulatedCrash ||
        !(error instanceof DomainError) ||
        error.kind !== "unavailable"
      ) {
        throw error;
      }
      // The intents are committed and the write failed after: finish it now if the stores answer (a
      // few tries: the pool may hand out the killed connection once more before it notices).
      const ids = recorded.map((intent) => intent.id);
      try {
        for (let attempt = 1; ; attempt++) {
          try {
            await metadata.withLocks({ ids }, (locked) => finishIntents(locked, ids, steps.knownVectors?.()));
            break;
          } catch (retryError) {
            if (
              attempt >= SELF_REPAIR_ATTEMPTS ||
              !(retryError instanceof DomainError) ||
              retryError.kind !== "unavailable"
            ) {
              throw retryError;
            }
            await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
          }
        }
        logger.warn(
          { err: error, op: steps.op, ids: recorded.length },
          "a write failed half-way and was finished by the same request",
        );
        return result as T;
      } catch (retryError) {
        logger.warn(
          { err: retryError, cause: error, op: steps.op, ids: recorded.length },
          "a write failed half-way; the repairer finishes it",
        );
        throw new UnavailableError(
          error instanceof UnavailableError ? error.dependency : "store",
          `${error.message}; the write is recorded and will be completed by the repairer, so retrying is safe`,
          { cause: error },
        );
      }
    }
  }

  return { runWrite, finishIntents };
}

export type WritePath = ReturnType<typeof createWritePath>;

/** The domain error for a caller's abort: a deadline (connect's DeadlineExceeded or a TimeoutError) or a cancel. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw abortedError(signal);
  }
}

export function abortedError(signal: AbortSignal): CancelledError | DeadlineExceededError {
  const reason = signal.reason as { name?: unknown; code?: unknown } | undefined;
  // connect-node aborts with a ConnectError whose code 4 is DEADLINE_EXCEEDED; AbortSignal.timeout uses TimeoutError.
  if (reason?.name === "TimeoutError" || reason?.code === 4) {
    return new DeadlineExceededError(
      "the caller's deadline passed before the write was recorded; nothing was written",
      { cause: reason },
    );
  }
  return new CancelledError("the caller cancelled before the write was recorded; nothing was written", {
    cause: reason,
  });
}
