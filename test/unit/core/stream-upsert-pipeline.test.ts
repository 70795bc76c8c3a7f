import { describe, expect, it } from "vitest";
import type { Ingest, UpsertInput, UpsertResult } from "../../../src/core/ingest.js";
import { type StreamAck, type StreamMessage, streamUpsert } from "../../../src/core/stream-upsert.js";

/** A promise resolved or rejected from outside. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface Call {
  ids: string[];
  done: ReturnType<typeof deferred<UpsertResult>>;
}

/** An Ingest whose upserts each wait until the test settles them; `calls` records them in order. */
function controlledIngest() {
  const calls: Call[] = [];
  const waiters: (() => void)[] = [];
  const ingest = {
    upsert(inputs: readonly UpsertInput[]) {
      const call = { ids: inputs.map((input) => input.id), done: deferred<UpsertResult>() };
      calls.push(call);
      waiters.splice(0).forEach((wake) => wake());
      return call.done.promise;
    },
  } as unknown as Ingest;
  /** Resolves once `count` upserts have started. */
  const started = async (count: number) => {
    while (calls.length < count) await new Promise<void>((wake) => waiters.push(wake));
  };
  const succeed = (call: Call) =>
    call.done.resolve({ outcomes: call.ids.map(() => "created"), rows: [], embeddedCount: 0, embeddedTokens: 0 });
  return { ingest, calls, started, succeed };
}

function message(sequence: number, ids: string[]): StreamMessage {
  return {
    sequence: BigInt(sequence),
    inputs: ids.map((id) => ({
      id,
      catalogId: "c",
      kind: "k",
      content: id,
      metadata: {},
      schemaName: null,
      tableName: null,
      vector: new Float32Array(4),
    })),
  };
}

/** A message source the test feeds one message at a time; `end()` finishes it, `fail()` breaks it. */
function feed() {
  const queue: (StreamMessage | Error | null)[] = [];
  let wake: (() => void) | undefined;
  const push = (item: StreamMessage | Error | null) => {
    queue.push(item);
    wake?.();
  };
  async function* source(): AsyncGenerator<StreamMessage> {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      const item = queue.shift() as StreamMessage | Error | null;
      if (item === null) return;
      if (item instanceof Error) throw item;
      yield item;
    }
  }
  return { source: source(), send: push, end: () => push(null), fail: (error: Error) => push(error) };
}

/** Runs the stream, collecting acks; `result` settles when it ends. */
function run(source: AsyncIterable<StreamMessage>, ingest: Ingest, maxBatchEmbeddings = 2) {
  const acks: StreamAck[] = [];
  const result = (async () => {
    for await (const ack of streamUpsert(source, ingest, { maxBatchEmbeddings, maxBatchBytes: 1 << 30 })) {
      acks.push(ack);
    }
  })();
  return { acks, result };
}

/** A stream with two full batches being written: messages 1 (a, b) and 2 (c, d), neither finished. */
async function twoBatchesInFlight() {
  const { ingest, calls, started, succeed } = controlledIngest();
  const input = feed();
  const stream = run(input.source, ingest);
  input.send(message(1, ["a", "b"]));
  await started(1);
  input.send(message(2, ["c", "d"]));
  await started(2);
  return { calls, started, succeed, input, stream };
}

describe("streamUpsert", () => {
  it("writes two full batches at once and acknowledges in message order when the second finishes first", async () => {
    const { calls, started, succeed, input, stream } = await twoBatchesInFlight();
    expect(calls.map((call) => call.ids)).toEqual([
      ["a", "b"],
      ["c", "d"],
    ]);
    succeed(calls[1]);
    input.send(message(3, ["e"]));
    input.end();
    succeed(calls[0]);
    await started(3);
    succeed(calls[2]);
    await stream.result;
    expect(stream.acks.map((ack) => ack.sequence)).toEqual([1n, 2n, 3n]);
    expect(stream.acks.map((ack) => ack.created)).toEqual([2, 2, 1]);
  });

  it("starts a second batch only when it is full, so batches stay large while the stores are busy", async () => {
    const { ingest, calls, started, succeed } = controlledIngest();
    const input = feed();
    const stream = run(input.source, ingest, 3);
    input.send(message(1, ["a"]));
    await started(1);
    input.send(message(2, ["b"]));
    input.send(message(3, ["c"]));
    input.send(message(4, ["d"]));
    await started(2);
    expect(calls.map((call) => call.ids)).toEqual([["a"], ["b", "c", "d"]]);
    succeed(calls[0]);
    succeed(calls[1]);
    input.end();
    await stream.result;
    expect(stream.acks.map((ack) => ack.sequence)).toEqual([1n, 2n, 3n, 4n]);
  });

  it("holds a batch that names an id of a batch in flight until that one is written", async () => {
    const { ingest, calls, started, succeed } = controlledIngest();
    const input = feed();
    const stream = run(input.source, ingest);
    input.send(message(1, ["a", "b"]));
    await started(1);
    input.send(message(2, ["b", "c"]));
    input.end();
    // The second batch is full and a slot is free, but "b" is being written: nothing else starts.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(calls).toHaveLength(1);
    succeed(calls[0]);
    await started(2);
    expect(calls[1].ids).toEqual(["b", "c"]);
    succeed(calls[1]);
    await stream.result;
    expect(stream.acks.map((ack) => ack.sequence)).toEqual([1n, 2n]);
  });

  it("ends with a write's error after acknowledging the batches before it, whatever finished after", async () => {
    const { calls, succeed, stream } = await twoBatchesInFlight();
    calls[1].done.reject(new Error("qdrant down"));
    succeed(calls[0]);
    await expect(stream.result).rejects.toThrow("qdrant down");
    expect(stream.acks.map((ack) => ack.sequence)).toEqual([1n]);
  });

  it("ends with a write's error only once the other write in flight has settled", async () => {
    const { calls, succeed, stream } = await twoBatchesInFlight();
    calls[0].done.reject(new Error("qdrant down"));
    let ended = false;
    void stream.result.catch(() => (ended = true));
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(ended).toBe(false); // the second batch is still being written
    succeed(calls[1]);
    await expect(stream.result).rejects.toThrow("qdrant down");
    expect(stream.acks).toEqual([]);
  });

  it("writes and acknowledges what was read before the source failed, then ends with its error", async () => {
    const { ingest, calls, started, succeed } = controlledIngest();
    const input = feed();
    const stream = run(input.source, ingest, 10);
    input.send(message(1, ["a"]));
    await started(1);
    input.send(message(2, ["b"]));
    input.fail(new Error("bad message"));
    succeed(calls[0]);
    await started(2);
    expect(calls[1].ids).toEqual(["b"]);
    succeed(calls[1]);
    await expect(stream.result).rejects.toThrow("bad message");
    expect(stream.acks.map((ack) => ack.sequence)).toEqual([1n, 2n]);
  });
});
