import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CancelledError, UnavailableError } from "../../../src/core/errors.js";
import type { Ingest, UpsertInput, UpsertResult } from "../../../src/core/ingest.js";
import { streamUpsert, type StreamAck, type StreamMessage } from "../../../src/core/stream-upsert.js";
import { createCoreFixture, input } from "../../helpers/core-fixture.js";

// Batching, acknowledgement order and failure order of streamUpsert, with writes that complete (or fail)
// only when the test says so: no timing.

interface PendingWrite {
  inputs: readonly UpsertInput[];
  resolve(): void;
  reject(error: unknown): void;
}

/** An Ingest whose upserts wait for the test: `writes` lists them in the order they started. */
function controlledIngest() {
  const writes: PendingWrite[] = [];
  let started: (() => void) | undefined;
  const ingest = {
    upsert: (inputs: readonly UpsertInput[]) =>
      new Promise<UpsertResult>((resolve, reject) => {
        writes.push({
          inputs,
          resolve: () =>
            resolve({
              outcomes: inputs.map(() => "created"),
              rows: [],
              embeddedCount: 0,
              embeddedTokens: 0,
            }),
          reject,
        });
        started?.();
      }),
  } as Pick<Ingest, "upsert"> as Ingest;
  /** Resolves once `count` writes have started. */
  const writesStarted = (count: number) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (writes.length >= count) resolve();
      };
      started = check;
      check();
    });
  return { ingest, writes, writesStarted };
}

/** A message source the test feeds by hand; `fail` ends it with an error. */
function controlledMessages() {
  const queue: Array<IteratorResult<StreamMessage> | { error: unknown }> = [];
  let waiting: ((value: IteratorResult<StreamMessage> | { error: unknown }) => void) | undefined;
  const push = (item: IteratorResult<StreamMessage> | { error: unknown }) => {
    if (waiting !== undefined) {
      const resolve = waiting;
      waiting = undefined;
      resolve(item);
    } else {
      queue.push(item);
    }
  };
  const iterable: AsyncIterable<StreamMessage> = {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        const item =
          queue.shift() ??
          (await new Promise<IteratorResult<StreamMessage> | { error: unknown }>((resolve) => (waiting = resolve)));
        if ("error" in item) throw item.error;
        return item;
      },
      return: async () => ({ done: true, value: undefined }),
    }),
  };
  let sequence = 0n;
  return {
    iterable,
    send: (count: number) => {
      const catalogId = randomUUID();
      push({
        done: false,
        value: { sequence: ++sequence, inputs: Array.from({ length: count }, () => input(catalogId, randomUUID())) },
      });
    },
    end: () => push({ done: true, value: undefined }),
    fail: (error: unknown) => push({ error }),
  };
}

async function collect(stream: AsyncGenerator<StreamAck>, into: StreamAck[]): Promise<unknown> {
  try {
    for await (const ack of stream) into.push(ack);
    return undefined;
  } catch (error) {
    return error;
  }
}

const options = { maxBatchEmbeddings: 4, maxBatchBytes: 1 << 20 };

/** A stream over a controlled source and a controlled ingest, its acknowledgements collected. */
function startStream() {
  const { ingest, writes, writesStarted } = controlledIngest();
  const messages = controlledMessages();
  const acks: StreamAck[] = [];
  const done = collect(streamUpsert(messages.iterable, ingest, options), acks);
  return { writes, writesStarted, messages, acks, done };
}

describe("streamUpsert", () => {
  it("writes whole messages in batches of at most maxBatchEmbeddings and acknowledges each message in order", async () => {
    const { writes, writesStarted, messages, acks, done } = startStream();
    const sizes = [2, 2, 2, 1, 3, 4];
    for (const size of sizes) messages.send(size);
    messages.end();
    for (let written = 0, index = 0; written < sizes.reduce((sum, size) => sum + size, 0); index++) {
      await writesStarted(index + 1);
      const batch = writes[index].inputs.length;
      expect(batch).toBeLessThanOrEqual(options.maxBatchEmbeddings);
      written += batch;
      writes[index].resolve();
    }
    expect(await done).toBeUndefined();
    // Each acknowledgement counts its own message's embeddings: no message was split across batches.
    expect(acks.map((ack) => [ack.sequence, ack.created])).toEqual(sizes.map((size, i) => [BigInt(i + 1), size]));
  });

  it("after a bad message, writes and acknowledges what came before it, then ends with the error", async () => {
    const { writes, writesStarted, messages, acks, done } = startStream();
    messages.send(1);
    await writesStarted(1);
    messages.send(1);
    const bad = new Error("malformed message");
    messages.fail(bad);
    writes[0].resolve();
    await writesStarted(2);
    writes[1].resolve();
    expect(await done).toBe(bad);
    expect(acks.map((ack) => ack.sequence)).toEqual([1n, 2n]);
  });

  it("ends with a failed write's error and acknowledges nothing after it", async () => {
    const { writes, writesStarted, messages, acks, done } = startStream();
    messages.send(1);
    await writesStarted(1);
    messages.send(1);
    const failure = new UnavailableError("qdrant", "down on purpose");
    writes[0].reject(failure);
    expect(await done).toBe(failure);
    expect(acks).toEqual([]);
  });

  it("gives a reader that stops while a write is in flight that write's failure, not an unhandled rejection", async () => {
    const { ingest, writes, writesStarted } = controlledIngest();
    const messages = controlledMessages();
    const stream = streamUpsert(messages.iterable, ingest, options);
    messages.send(1);
    const first = stream.next();
    await writesStarted(1);
    writes[0].resolve();
    expect((await first).value).toMatchObject({ sequence: 1n });
    messages.send(1);
    const second = stream.next();
    await writesStarted(2);
    // The client goes away: the generator is closed while the second write is in flight ...
    const closed = stream.return(undefined);
    writes[1].reject(new UnavailableError("qdrant", "down on purpose"));
    // ... and its failure is nobody's to handle: it must not surface as an unhandled rejection.
    await closed;
    await second.catch(() => undefined);
  });

  it("on a cancel, finishes the batch past its intent, drops what is not written yet, and ends CANCELLED", async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let reached: () => void = () => undefined;
    const intentRecorded = new Promise<void>((resolve) => (reached = resolve));
    let blocked = false;
    const core = createCoreFixture({
      hooks: {
        at: async (step) => {
          if (step === "intent-recorded" && !blocked) {
            blocked = true;
            reached();
            await held;
          }
        },
      },
    });
    const controller = new AbortController();
    const messages = controlledMessages();
    const acks: StreamAck[] = [];
    const done = collect(streamUpsert(messages.iterable, core.ingest, { ...options, signal: controller.signal }), acks);
    messages.send(1);
    await intentRecorded; // the first batch's intent is recorded; its write waits here
    messages.send(1);
    // The client goes away: the signal aborts and the request stream fails, as connect does.
    controller.abort();
    messages.fail(new Error("the client cancelled"));
    release();
    expect(await done).toBeInstanceOf(CancelledError);
    expect(core.metadata.committed.rows.size).toBe(1);
    expect(core.points.points.size).toBe(1);
    expect(core.metadata.committed.intents.size).toBe(0);
  });

  it("writes through the real ingest: every acknowledged embedding is in both stores", async () => {
    const core = createCoreFixture();
    const messages = controlledMessages();
    const acks: StreamAck[] = [];
    const done = collect(streamUpsert(messages.iterable, core.ingest, options), acks);
    for (let i = 0; i < 5; i++) messages.send(2);
    messages.end();
    expect(await done).toBeUndefined();
    expect(acks.reduce((sum, ack) => sum + ack.created, 0)).toBe(10);
    expect(core.metadata.committed.rows.size).toBe(10);
    expect(core.points.points.size).toBe(10);
    expect(core.metadata.committed.intents.size).toBe(0);
  });
});
