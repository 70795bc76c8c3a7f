// Admission control over a real gRPC socket: with MAX_CONCURRENT_EXPENSIVE_CALLS=1 and one embedding
// call held inside the embedder (a barrier, no timing), the next expensive call is refused at once
// with RESOURCE_EXHAUSTED and a retry hint, cheap calls still pass, and the slot frees afterwards.
import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalEmbedder } from "../../src/embedders/local-embedder.js";
import type { Embedder } from "../../src/embedders/embedder.js";
import { RETRY_AFTER_MS } from "../../src/server/interceptors.js";
import { failure } from "../helpers/grpc-status.js";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";

const DIMENSIONS = 32;

function gatedEmbedder() {
  const inner = createLocalEmbedder({ dimensions: DIMENSIONS });
  let release!: () => void;
  let enter!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const entered = new Promise<void>((resolve) => (enter = resolve));
  let gated = true;
  const embedder: Embedder = {
    name: inner.name,
    model: inner.model,
    dimensions: inner.dimensions,
    relevanceFloor: inner.relevanceFloor,
    countTokens: (text, limit) => inner.countTokens(text, limit),
    async embed(inputs, options) {
      if (gated) {
        gated = false;
        enter();
        await gate;
      }
      return inner.embed(inputs, options);
    },
  };
  return { embedder, entered, release };
}

describe("admission control", () => {
  let app: TestApp;
  const gated = gatedEmbedder();

  beforeAll(async () => {
    app = await startTestApp({
      env: { EMBEDDING_DIMENSIONS: String(DIMENSIONS), MAX_CONCURRENT_EXPENSIVE_CALLS: "1" },
      overrides: { embedder: gated.embedder },
    });
  });

  afterAll(async () => {
    gated.release();
    await app?.stop();
  });

  it("refuses an expensive call past the limit with RESOURCE_EXHAUSTED and a retry hint, then admits again", async () => {
    const catalogId = randomUUID();
    const held = app.embeddings.upsertEmbedding({
      embedding: { id: randomUUID(), catalogId, kind: "document", content: "held in the embedder" },
    });
    await gated.entered;

    const refused = await failure(
      app.retrieval.searchEmbeddings({ catalogId, query: { case: "text", value: "anything" } }),
    );
    expect(refused.code).toBe(Code.ResourceExhausted);
    expect(refused.rawMessage).toMatch(/MAX_CONCURRENT_EXPENSIVE_CALLS/);
    expect(refused.metadata.get("grpc-retry-pushback-ms")).toBe(String(RETRY_AFTER_MS));

    // A cheap call is not counted: an unknown id still answers NOT_FOUND.
    const lookup = await failure(app.embeddings.getEmbedding({ id: randomUUID(), catalogId }));
    expect(lookup.code).toBe(Code.NotFound);

    gated.release();
    await held;
    expect(await app.running.metadata.countRows({ catalogId })).toBe(1);
    const admitted = await app.retrieval.searchEmbeddings({ catalogId, query: { case: "text", value: "held" } });
    expect(admitted.hits).toHaveLength(1);
  });
});
