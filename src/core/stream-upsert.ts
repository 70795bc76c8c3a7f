import type { Ingest, UpsertInput } from "./ingest.js";

export interface StreamMessage {
  sequence: bigint;
  inputs: UpsertInput[];
}

export interface StreamAck {
  sequence: bigint;
  created: number;
  updated: number;
  unchanged: number;
}

export interface StreamUpsertOptions {
  /** Embeddings per store batch (one Postgres statement, one Qdrant upsert). */
  maxBatchEmbeddings: number;
  /** Vector bytes per store batch. */
  maxBatchBytes: number;
  /**
   * Store batches written at once (default 2): while one batch is in Qdrant, the next takes its locks
   * and records its intents in Postgres, so the slowest store never waits on the other.
   */
  maxBatchesInFlight?: number;
  signal?: AbortSignal;
  /** Observes each store batch written: embeddings, seconds. */
  onBatch?: (embeddings: number, seconds: number) => void;
}

/** A write in flight never rejects: its outcome is an event, taken in batch order. */
type Written = { kind: "written"; acks: StreamAck[] } | { kind: "write-error"; error: unknown };

interface Write {
  ids: ReadonlySet<string>;
  promise: Promise<Written>;
  outcome?: Written;
}

type Event =
  | { kind: "read"; result: IteratorResult<StreamMessage> }
  | { kind: "read-error"; error: unknown }
  | { kind: "settled" };

/**
 * Groups arriving messages into store batches and acknowledges each message, in order, once its
 * embeddings are durable in both stores. The first batch is written as soon as anything arrived;
 * further batches (up to `maxBatchesInFlight` at once) only once full, so batches stay large while the
 * stores are busy. When every slot is taken and the next batch is full, reading stops, so HTTP/2 flow
 * control slows the client: memory is bounded by the batches in flight plus one filling, one message
 * and the stream's flow-control window. A message never straddles two batches; an id already in the
 * filling batch starts a new one (a batch never names an id twice), and a batch that names an id of a
 * batch in flight waits for it (the later write of an id always lands last). Batches may finish out of
 * order; acknowledgements never do.
 *
 * If reading fails (a bad message, the client cancelling), what was read before it is still written and
 * acknowledged, then the error ends the stream. If a write fails, the stream ends with its error once
 * the other write in flight has settled; the messages before the failed batch are acknowledged (writes
 * are idempotent: the client retries what was not acknowledged).
 */
export async function* streamUpsert(
  messages: AsyncIterable<StreamMessage>,
  ingest: Ingest,
  options: StreamUpsertOptions,
): AsyncGenerator<StreamAck> {
  const maxInFlight = Math.max(1, options.maxBatchesInFlight ?? 2);
  const iterator = messages[Symbol.asyncIterator]();
  let filling = newBatch();
  let carried: StreamMessage | undefined;
  let reading: Promise<Event> | undefined;
  const writes: Write[] = [];
  let inputDone = false;
  // Boxed, so that whatever the source threw (even undefined) is rethrown as it was.
  let readFailure: { error: unknown } | undefined;

  const fits = (batch: Batch, message: StreamMessage): boolean => {
    if (batch.messages.length === 0) {
      return true;
    }
    const bytes = vectorBytes(message);
    return (
      batch.embeddings + message.inputs.length <= options.maxBatchEmbeddings &&
      batch.bytes + bytes <= options.maxBatchBytes &&
      !message.inputs.some((input) => batch.ids.has(input.id))
    );
  };

  const write = (batch: Batch): Write => {
    const started = process.hrtime.bigint();
    const entry: Omit<Write, "promise"> & Partial<Pick<Write, "promise">> = { ids: batch.ids };
    entry.promise = ingest
      .upsert(
        batch.messages.flatMap((message) => message.inputs),
        { signal: options.signal },
      )
      .then(
        (result): Written => {
          options.onBatch?.(batch.embeddings, Number(process.hrtime.bigint() - started) / 1e9);
          return { kind: "written", acks: acknowledge(batch, result.outcomes) };
        },
        (error: unknown): Written => ({ kind: "write-error", error }),
      )
      .then((outcome) => {
        entry.outcome = outcome;
        return outcome;
      });
    return entry as Write;
  };

  /** Whether the filling batch may start now: a free slot, no shared id, and eager only for the first. */
  const mayStart = (): boolean => {
    if (filling.messages.length === 0 || writes.length >= maxInFlight) {
      return false;
    }
    const full = carried !== undefined || inputDone || filling.embeddings >= options.maxBatchEmbeddings;
    if (writes.length > 0 && !full) {
      return false;
    }
    return !writes.some((inFlight) => [...filling.ids].some((id) => inFlight.ids.has(id)));
  };

  try {
    for (;;) {
      // Acknowledge, in order, every batch at the head that has finished.
      while (writes.length > 0 && writes[0].outcome !== undefined) {
        const outcome = writes.shift()?.outcome as Written;
        if (outcome.kind === "write-error") {
          // The stream ends only once its other writes have settled (they are durable or recorded
          // either way; the client retries what was not acknowledged), so nothing outlives the call.
          await Promise.all(writes.map((inFlight) => inFlight.promise));
          throw outcome.error;
        }
        yield* outcome.acks;
      }
      if (mayStart()) {
        writes.push(write(filling));
        filling = newBatch();
        if (carried !== undefined) {
          add(filling, carried);
          carried = undefined;
        }
        continue;
      }
      if (!inputDone && reading === undefined && carried === undefined) {
        reading = iterator.next().then(
          (result): Event => ({ kind: "read", result }),
          (error: unknown): Event => ({ kind: "read-error", error }),
        );
      }
      const waiting: Promise<Event>[] = writes
        .filter((inFlight) => inFlight.outcome === undefined)
        .map((inFlight) => inFlight.promise.then((): Event => ({ kind: "settled" })));
      if (reading !== undefined) {
        waiting.push(reading);
      }
      if (waiting.length === 0) {
        // Nothing in flight, nothing to read or start: every batch is written and acknowledged.
        break;
      }
      const event = await Promise.race(waiting);
      if (event.kind === "settled") {
        continue;
      }
      reading = undefined;
      if (event.kind === "read-error") {
        inputDone = true;
        readFailure = { error: event.error };
      } else if (event.result.done) {
        inputDone = true;
      } else if (fits(filling, event.result.value)) {
        add(filling, event.result.value);
      } else {
        carried = event.result.value;
      }
    }
  } finally {
    // An abandoned stream (client gone) lets the writes in flight finish; they are idempotent either way.
    // With a read still pending, `return` would wait for the client's next message: not awaited then.
    const closing = iterator.return?.().catch(() => undefined);
    if (reading === undefined) {
      await closing;
    }
  }
  if (readFailure !== undefined) {
    throw readFailure.error;
  }
}

interface Batch {
  messages: StreamMessage[];
  embeddings: number;
  bytes: number;
  ids: Set<string>;
}

function newBatch(): Batch {
  return { messages: [], embeddings: 0, bytes: 0, ids: new Set() };
}

function add(batch: Batch, message: StreamMessage): void {
  batch.messages.push(message);
  batch.embeddings += message.inputs.length;
  batch.bytes += vectorBytes(message);
  for (const input of message.inputs) {
    batch.ids.add(input.id);
  }
}

/** One ack per message of the batch, counting its inputs' outcomes (in input order). */
function acknowledge(batch: Batch, outcomes: readonly string[]): StreamAck[] {
  let offset = 0;
  return batch.messages.map((message) => {
    let created = 0;
    let updated = 0;
    let unchanged = 0;
    for (let i = offset; i < offset + message.inputs.length; i++) {
      if (outcomes[i] === "created") created++;
      else if (outcomes[i] === "updated") updated++;
      else unchanged++;
    }
    offset += message.inputs.length;
    return { sequence: message.sequence, created, updated, unchanged };
  });
}

function vectorBytes(message: StreamMessage): number {
  let bytes = 0;
  for (const input of message.inputs) {
    bytes += (input.vector?.byteLength ?? 0) + input.content.length;
  }
  return bytes;
}
