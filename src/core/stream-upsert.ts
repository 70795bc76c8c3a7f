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
  signal?: AbortSignal;
  /** Observes each store batch written: embeddings, seconds. */
  onBatch?: (embeddings: number, seconds: number) => void;
}

type Event =
  | { kind: "read"; result: IteratorResult<StreamMessage> }
  | { kind: "read-error"; error: unknown }
  | { kind: "written"; acks: StreamAck[] };

/**
 * Groups arriving messages into store batches and acknowledges each message, in order, once its
 * embeddings are durable in both stores. One batch is written while the next one fills; when the next
 * one is full, reading stops, so HTTP/2 flow control slows the client: memory is bounded by two batches
 * plus one message plus the stream's flow-control window. A message never straddles two batches, and an
 * id already in the filling batch starts a new one (a batch never names an id twice).
 *
 * If reading fails with a bad message, what was read before it is still written and acknowledged, then
 * the error ends the stream. A cancel or deadline also aborts `signal`: the batch being written completes
 * if its intents are already recorded (core/write-path.ts), what is not written yet is dropped (its
 * write fails CANCELLED / DEADLINE_EXCEEDED before touching a store), and that error ends the stream.
 */
export async function* streamUpsert(
  messages: AsyncIterable<StreamMessage>,
  ingest: Ingest,
  options: StreamUpsertOptions,
): AsyncGenerator<StreamAck> {
  const iterator = messages[Symbol.asyncIterator]();
  let filling = newBatch();
  let carried: StreamMessage | undefined;
  let reading: Promise<Event> | undefined;
  let writing: Promise<Event> | undefined;
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

  const write = (batch: Batch): Promise<Event> => {
    const started = process.hrtime.bigint();
    return ingest
      .upsert(
        batch.messages.flatMap((message) => message.inputs),
        { signal: options.signal },
      )
      .then((result) => {
        options.onBatch?.(batch.embeddings, Number(process.hrtime.bigint() - started) / 1e9);
        let offset = 0;
        const acks = batch.messages.map((message) => {
          const outcomes = result.outcomes.slice(offset, offset + message.inputs.length);
          offset += message.inputs.length;
          return {
            sequence: message.sequence,
            created: outcomes.filter((outcome) => outcome === "created").length,
            updated: outcomes.filter((outcome) => outcome === "updated").length,
            unchanged: outcomes.filter((outcome) => outcome === "unchanged").length,
          };
        });
        return { kind: "written", acks } as const;
      });
  };

  try {
    for (;;) {
      if (writing === undefined && filling.messages.length > 0) {
        writing = write(filling);
        filling = newBatch();
        if (carried !== undefined) {
          add(filling, carried);
          carried = undefined;
        }
      }
      if (!inputDone && reading === undefined && carried === undefined) {
        reading = iterator.next().then(
          (result): Event => ({ kind: "read", result }),
          (error: unknown): Event => ({ kind: "read-error", error }),
        );
      }
      const waiting = [writing, reading].filter((promise): promise is Promise<Event> => promise !== undefined);
      if (waiting.length === 0) {
        break;
      }
      const event = await Promise.race(waiting);
      if (event.kind === "written") {
        writing = undefined;
        yield* event.acks;
      } else {
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
    }
  } finally {
    // Closed early (the consumer stopped taking acknowledgements): no write is in flight at a yield, and
    // the read in flight, if any, is let go.
    await iterator.return?.().catch(() => undefined);
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

function vectorBytes(message: StreamMessage): number {
  let bytes = 0;
  for (const input of message.inputs) {
    bytes += (input.vector?.byteLength ?? 0) + input.content.length;
  }
  return bytes;
}
