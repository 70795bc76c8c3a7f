// API keys scoped to catalogs (`API_KEYS=key:catalog-uuid|catalog-uuid`): a scoped key may name only its
// catalogs, in every catalog_id of every request and of every stream message; anything else is
// PERMISSION_DENIED before a handler runs, so nothing is written. An unscoped key still names any catalog.
import { randomUUID } from "node:crypto";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingService } from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { RetrievalService } from "../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { failure } from "../helpers/grpc-status.js";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";

const DIMENSIONS = 8;
const OWN = randomUUID();
const SECOND_OWN = randomUUID();
const OTHER = randomUUID();

interface Clients {
  embeddings: Client<typeof EmbeddingService>;
  retrieval: Client<typeof RetrievalService>;
}

function input(catalogId: string) {
  return {
    id: randomUUID(),
    catalogId,
    kind: "table",
    content: `text ${randomUUID()}`,
    vector: Array.from({ length: DIMENSIONS }, (_, i) => i + 1),
  };
}

describe("API keys scoped to catalogs", () => {
  let app: TestApp;
  let scoped: Clients;
  let unscoped: Clients;

  function clients(key: string): Clients {
    const transport = createGrpcTransport({
      baseUrl: app.baseUrl,
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${key}`);
          return next(req);
        },
      ],
    });
    return {
      embeddings: createClient(EmbeddingService, transport),
      retrieval: createClient(RetrievalService, transport),
    };
  }

  async function rowsIn(catalogId: string): Promise<number> {
    return app.running.metadata.countRows({ catalogId });
  }

  beforeAll(async () => {
    app = await startTestApp({
      env: {
        EMBEDDING_DIMENSIONS: String(DIMENSIONS),
        // The scope is written upper-case: UUIDs compare without regard to case.
        API_KEYS: `all-catalogs-key,scoped-key:${OWN.toUpperCase()}|${SECOND_OWN}`,
      },
    });
    scoped = clients("scoped-key");
    unscoped = clients("all-catalogs-key");
  });

  afterAll(async () => {
    await app?.stop();
  });

  it("a scoped key writes, reads and deletes in its own catalogs", async () => {
    const first = input(OWN);
    await scoped.embeddings.upsertEmbedding({ embedding: first });
    await scoped.embeddings.batchUpsertEmbeddings({ embeddings: [input(OWN), input(SECOND_OWN)] });
    const got = await scoped.embeddings.getEmbedding({ id: first.id, catalogId: OWN });
    expect(got.embedding?.content).toBe(first.content);
    const hits = await scoped.retrieval.searchEmbeddings({
      catalogId: OWN,
      query: { case: "vector", value: { values: first.vector } },
      limit: 5,
    });
    expect(hits.hits.map((hit) => hit.embedding?.id)).toContain(first.id);
    await scoped.embeddings.deleteEmbedding({ id: first.id, catalogId: OWN.toUpperCase() });
    expect(await rowsIn(OWN)).toBe(1);
  });

  it("a scoped key naming another catalog gets PERMISSION_DENIED naming the field, and nothing is written", async () => {
    const unary = await failure(scoped.embeddings.upsertEmbedding({ embedding: input(OTHER) }));
    expect(unary.code).toBe(Code.PermissionDenied);
    expect(unary.rawMessage).toMatch(/^embedding\.catalog_id: /);

    // One embedding of the batch is out of scope: the whole batch is refused, the in-scope one too.
    const before = await rowsIn(OWN);
    const batch = await failure(scoped.embeddings.batchUpsertEmbeddings({ embeddings: [input(OWN), input(OTHER)] }));
    expect(batch.code).toBe(Code.PermissionDenied);
    expect(batch.rawMessage).toMatch(/^embeddings\[1\]\.catalog_id: /);
    expect(await rowsIn(OWN)).toBe(before);
    expect(await rowsIn(OTHER)).toBe(0);
  });

  it("every RPC that names a catalog refuses another catalog for a scoped key", async () => {
    const id = randomUUID();
    const calls: Array<[string, () => Promise<unknown>]> = [
      ["GetEmbedding", () => scoped.embeddings.getEmbedding({ id, catalogId: OTHER })],
      ["DeleteEmbedding", () => scoped.embeddings.deleteEmbedding({ id, catalogId: OTHER })],
      ["BatchDeleteEmbeddings", () => scoped.embeddings.batchDeleteEmbeddings({ ids: [id], catalogId: OTHER })],
      ["DeleteCatalogEmbeddings", () => scoped.embeddings.deleteCatalogEmbeddings({ catalogId: OTHER })],
      [
        "UpdateEmbeddingStatus",
        () => scoped.embeddings.updateEmbeddingStatus({ ids: [id], catalogId: OTHER, status: 2 }),
      ],
      ["CleanupRejectedEmbeddings", () => scoped.embeddings.cleanupRejectedEmbeddings({ catalogId: OTHER })],
      ["ReconcileEmbeddings", () => scoped.embeddings.reconcileEmbeddings({ catalogId: OTHER })],
      [
        "CreateEmbeddingsForCatalog",
        () =>
          scoped.embeddings.createEmbeddingsForCatalog({
            catalogId: OTHER,
            catalog: { documents: [{ key: "d", kind: "document", content: "x" }] },
          }),
      ],
      [
        "SearchEmbeddings",
        () => scoped.retrieval.searchEmbeddings({ catalogId: OTHER, query: { case: "text", value: "q" } }),
      ],
      ["RetrieveContext", () => scoped.retrieval.retrieveContext({ catalogId: OTHER, question: "q" })],
    ];
    for (const [rpc, call] of calls) {
      const error = await failure(call());
      expect(error.code, rpc).toBe(Code.PermissionDenied);
      expect(error.rawMessage, rpc).toMatch(/^catalog_id: /);
    }
    expect(await rowsIn(OTHER)).toBe(0);
  });

  it("the RPCs where an empty catalog_id means every catalog are refused to a scoped key, allowed to an unscoped one", async () => {
    for (const call of [
      () => scoped.embeddings.cleanupRejectedEmbeddings({ dryRun: true }),
      () => scoped.embeddings.reconcileEmbeddings({}),
    ]) {
      const error = await failure(call());
      expect(error.code).toBe(Code.PermissionDenied);
      expect(error.rawMessage).toMatch(/^catalog_id: empty means every catalog/);
    }
    await unscoped.embeddings.cleanupRejectedEmbeddings({ dryRun: true });
    await unscoped.embeddings.reconcileEmbeddings({});
  });

  it("a stream is checked message by message: acknowledged messages stay, the out-of-scope one ends the stream", async () => {
    const acked = input(SECOND_OWN);
    const acks: bigint[] = [];
    let release: () => void = () => undefined;
    const firstAcked = new Promise<void>((resolve) => (release = resolve));
    async function* messages() {
      yield { sequence: 1n, embeddings: [acked] };
      await firstAcked; // the second message is sent only once the first is acknowledged
      yield { sequence: 2n, embeddings: [input(OTHER)] };
    }
    const error = await failure(
      (async () => {
        for await (const ack of scoped.embeddings.streamUpsertEmbeddings(messages())) {
          acks.push(ack.sequence);
          release();
        }
      })(),
    );
    expect(error.code).toBe(Code.PermissionDenied);
    expect(error.rawMessage).toMatch(/^embeddings\[0\]\.catalog_id: /);
    expect(acks).toEqual([1n]);
    const got = await unscoped.embeddings.getEmbedding({ id: acked.id, catalogId: SECOND_OWN });
    expect(got.embedding?.content).toBe(acked.content);
    expect(await rowsIn(OTHER)).toBe(0);
  });

  it("an unscoped key names any catalog", async () => {
    await unscoped.embeddings.upsertEmbedding({ embedding: input(OTHER) });
    expect(await rowsIn(OTHER)).toBe(1);
  });
});
