// A connection to Qdrant that fails just as Qdrant comes back (the attempt began while it restarted)
// must not reach the caller: the store tries an UNAVAILABLE request again, a bounded number of times.
// A TCP proxy in front of the embedded Qdrant cuts the live connection and resets the next ones on
// demand, so each case is one exact order of events, without sleeps.
import { randomUUID } from "node:crypto";
import net from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmbeddedQdrant, type EmbeddedQdrant } from "../../src/embedded/qdrant/index.js";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";

async function startResettingProxy(upstreamPort: number) {
  const open = new Set<net.Socket>();
  const state = { resetNext: 0, resets: 0 };
  const server = net.createServer((socket) => {
    if (state.resetNext > 0) {
      state.resetNext--;
      state.resets++;
      socket.resetAndDestroy();
      return;
    }
    const upstream = net.connect(upstreamPort, "127.0.0.1");
    for (const end of [socket, upstream]) {
      open.add(end);
      end.on("close", () => open.delete(end));
      end.on("error", () => undefined);
    }
    socket.pipe(upstream).pipe(socket);
    socket.on("close", () => upstream.destroy());
    upstream.on("close", () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    state,
    /** Cuts every live connection, and resets the next `count` new ones. */
    cutAndReset(count: number) {
      state.resetNext = count;
      state.resets = 0;
      for (const socket of open) socket.destroy();
    },
    /** Closes the listener and every connection through it (close() alone waits for them). */
    stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of open) socket.destroy();
      return closed;
    },
  };
}

describe("a Qdrant connection that fails as Qdrant comes back", () => {
  let qdrant: EmbeddedQdrant;
  let proxy: Awaited<ReturnType<typeof startResettingProxy>>;
  let app: TestApp;

  beforeAll(async () => {
    qdrant = createEmbeddedQdrant({ host: "127.0.0.1", port: 0, logger: pino({ level: "silent" }) });
    const { port } = await qdrant.start();
    proxy = await startResettingProxy(port);
    app = await startTestApp({
      env: {
        EMBEDDING_DIMENSIONS: "8",
        QDRANT_HOST: "127.0.0.1",
        QDRANT_GRPC_PORT: String(proxy.port),
        // No readiness checks during the cases: only the calls below open connections.
        READINESS_INTERVAL_MS: "600000",
      },
    });
  });

  afterAll(async () => {
    await app?.stop();
    await proxy?.stop();
    await qdrant?.stop();
  });

  it("one reset connection is tried again: the read and the write succeed", async () => {
    const catalogId = randomUUID();
    const embedding = { id: randomUUID(), catalogId, kind: "table", content: "Table: back_again" };
    await app.embeddings.upsertEmbedding({ embedding });

    proxy.cutAndReset(1);
    expect(await app.running.vectors.get([embedding.id])).toHaveLength(1);
    expect(proxy.state.resets).toBe(1);

    proxy.cutAndReset(1);
    const second = { ...embedding, id: randomUUID(), content: "Table: written_after_a_reset" };
    const written = await app.embeddings.upsertEmbedding({ embedding: second });
    expect(written.embedding?.id).toBe(second.id);
    expect(proxy.state.resets).toBe(1);
    expect(await app.running.vectors.get([second.id])).toHaveLength(1);
  });

  it("a Qdrant that keeps resetting is UNAVAILABLE after three attempts, not retried without end", async () => {
    proxy.cutAndReset(100);
    await expect(app.running.vectors.get([randomUUID()])).rejects.toMatchObject({ kind: "unavailable" });
    // Three attempts: either all three meet a reset connection, or the first still meets the cut one
    // (the client had not yet seen it close) and the two retries meet resets.
    expect([2, 3]).toContain(proxy.state.resets);
    proxy.cutAndReset(0);
    expect(await app.running.vectors.get([randomUUID()])).toEqual([]);
  });
});
