// One table of bad inputs, each sent to every RPC that carries the field, over gRPC and over the
// Connect protocol (binary, so NaN and NUL reach the server as sent): every one answers
// INVALID_ARGUMENT naming the field path, and nothing reaches either store.
import { randomUUID } from "node:crypto";
import type { JsonObject } from "@bufbuild/protobuf";
import { Code, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingService } from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { RetrievalService } from "../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { MAX_STRUCT_DEPTH } from "../../src/server/validation/request-rules.js";
import { failure } from "../helpers/grpc-status.js";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";

const DIMENSIONS = 16;
const NUL = "bad\u0000text";

function deep(levels: number): JsonObject {
  let value: JsonObject = { leaf: 1 };
  for (let i = 0; i < levels; i++) value = { nested: value };
  return value;
}

/** A bad value for one field of an embedding input (or a catalog document), and the path's tail. */
interface BadInput {
  name: string;
  /** Applied to an otherwise valid EmbeddingInput-like object. */
  apply: (input: Record<string, unknown>) => void;
  /** The field path below the input, as the refusal must name it. */
  field: string;
}

const BAD_INPUTS: BadInput[] = [
  { name: "NUL in content", apply: (input) => (input.content = NUL), field: "content" },
  { name: "NUL in kind", apply: (input) => (input.kind = NUL), field: "kind" },
  { name: "NUL in schema_name", apply: (input) => (input.schemaName = NUL), field: "schema_name" },
  { name: "NUL in table_name", apply: (input) => (input.tableName = NUL), field: "table_name" },
  { name: "NUL in a metadata value", apply: (input) => (input.metadata = { note: NUL }), field: "metadata.note" },
  { name: "NUL in a metadata key", apply: (input) => (input.metadata = { ["k\u0000ey"]: 1 }), field: "metadata[key" },
  { name: "NaN metadata number", apply: (input) => (input.metadata = { score: Number.NaN }), field: "metadata.score" },
  {
    name: "Infinity metadata number",
    apply: (input) => (input.metadata = { nested: { score: Number.POSITIVE_INFINITY } }),
    field: "metadata.nested.score",
  },
  {
    name: "__proto__ metadata key",
    apply: (input) => (input.metadata = JSON.parse('{"__proto__": "x"}') as JsonObject),
    field: "metadata.__proto__",
  },
  {
    name: "nested __proto__ metadata key",
    apply: (input) => (input.metadata = JSON.parse('{"table": {"__proto__": {"a": 1}}}') as JsonObject),
    field: "metadata.table.__proto__",
  },
  {
    name: "metadata nested too deep",
    apply: (input) => (input.metadata = deep(MAX_STRUCT_DEPTH + 2)),
    field: "metadata.nested",
  },
];

/** Every RPC that carries an embedding input, and where the input sits in its request. */
interface Carrier {
  rpc: string;
  /** Sends a request whose one input was spoilt by `spoil`; `path` is the input's field path. */
  send(clients: Clients, catalogId: string, spoil: (input: Record<string, unknown>) => void): Promise<unknown>;
  path: string;
  /** Catalog documents carry content, kind, names and metadata too, under other names. */
  field?: (field: string) => string | undefined;
}

interface Clients {
  embeddings: Client<typeof EmbeddingService>;
  retrieval: Client<typeof RetrievalService>;
}

function input(catalogId: string, spoil: (input: Record<string, unknown>) => void) {
  const value: Record<string, unknown> = {
    id: randomUUID(),
    catalogId,
    kind: "document",
    content: "fine text",
    vector: Array.from({ length: DIMENSIONS }, (_, i) => i + 1),
  };
  spoil(value);
  return value;
}

const CARRIERS: Carrier[] = [
  {
    rpc: "UpsertEmbedding",
    path: "embedding",
    send: (c, catalogId, spoil) => c.embeddings.upsertEmbedding({ embedding: input(catalogId, spoil) }),
  },
  {
    rpc: "BatchUpsertEmbeddings",
    path: "embeddings[1]",
    send: (c, catalogId, spoil) =>
      c.embeddings.batchUpsertEmbeddings({ embeddings: [input(catalogId, () => {}), input(catalogId, spoil)] }),
  },
  {
    rpc: "StreamUpsertEmbeddings",
    path: "embeddings[0]",
    async send(c, catalogId, spoil) {
      async function* messages() {
        yield { sequence: 1n, embeddings: [input(catalogId, spoil)] };
      }
      for await (const _ack of c.embeddings.streamUpsertEmbeddings(messages())) {
        // no ack is expected
      }
    },
  },
  {
    rpc: "CreateEmbeddingsForCatalog",
    path: "catalog.documents[0]",
    field: (field) =>
      field === "kind" ||
      field === "content" ||
      field === "schema_name" ||
      field === "table_name" ||
      field.startsWith("metadata")
        ? field
        : undefined,
    send(c, catalogId, spoil) {
      const spoilt = input(catalogId, spoil);
      const document = {
        key: "doc",
        kind: spoilt.kind as string,
        content: spoilt.content as string,
        schemaName: spoilt.schemaName as string | undefined,
        tableName: spoilt.tableName as string | undefined,
        metadata: spoilt.metadata as JsonObject | undefined,
      };
      return c.embeddings.createEmbeddingsForCatalog({ catalogId, catalog: { documents: [document] } });
    },
  },
];

/** Text fields of the read RPCs: a NUL there is refused the same way. */
const QUERY_CASES: Array<{ rpc: string; field: string; send: (c: Clients, catalogId: string) => Promise<unknown> }> = [
  {
    rpc: "SearchEmbeddings",
    field: "text",
    send: (c, catalogId) => c.retrieval.searchEmbeddings({ catalogId, query: { case: "text", value: NUL } }),
  },
  {
    rpc: "SearchEmbeddings",
    field: "schema_name",
    send: (c, catalogId) =>
      c.retrieval.searchEmbeddings({ catalogId, query: { case: "text", value: "ok" }, schemaName: NUL }),
  },
  {
    rpc: "SearchEmbeddings",
    field: "kinds[0]",
    send: (c, catalogId) =>
      c.retrieval.searchEmbeddings({ catalogId, query: { case: "text", value: "ok" }, kinds: [NUL] }),
  },
  {
    rpc: "RetrieveContext",
    field: "question",
    send: (c, catalogId) => c.retrieval.retrieveContext({ catalogId, question: NUL }),
  },
  {
    rpc: "RetrieveContext",
    field: "schema_name",
    send: (c, catalogId) => c.retrieval.retrieveContext({ catalogId, question: "ok", schemaName: NUL }),
  },
  { rpc: "GetEmbedding", field: "id", send: (c) => c.embeddings.getEmbedding({ id: NUL }) },
  {
    rpc: "DeleteCatalogEmbeddings",
    field: "catalog_id",
    send: (c) => c.embeddings.deleteCatalogEmbeddings({ catalogId: NUL }),
  },
];

describe("one validation layer for every RPC", () => {
  let app: TestApp;
  const protocols: Array<{ name: string; transport: () => Transport }> = [
    { name: "gRPC", transport: () => createGrpcTransport({ baseUrl: `http://127.0.0.1:${app.running.grpcPort}` }) },
    {
      name: "Connect",
      transport: () =>
        createConnectTransport({
          baseUrl: `http://127.0.0.1:${app.running.grpcPort}`,
          httpVersion: "2",
          useBinaryFormat: true,
        }),
    },
  ];
  const counts = { write: 0, read: 0 };

  beforeAll(async () => {
    app = await startTestApp({ env: { EMBEDDING_DIMENSIONS: String(DIMENSIONS) } });
  });

  afterAll(async () => {
    // The table's size, for the record (each row is one call over one protocol).
    console.log(`request validation table: ${counts.write} write calls + ${counts.read} read calls refused`);
    await app?.stop();
  });

  for (const protocol of protocols) {
    for (const carrier of CARRIERS) {
      for (const bad of BAD_INPUTS) {
        const field = carrier.field === undefined ? bad.field : carrier.field(bad.field);
        if (field === undefined) continue;
        it(`${protocol.name} ${carrier.rpc}: ${bad.name} -> INVALID_ARGUMENT at ${carrier.path}.${field}, nothing written`, async () => {
          const transport = protocol.transport();
          const clients = {
            embeddings: createClient(EmbeddingService, transport),
            retrieval: createClient(RetrievalService, transport),
          };
          const catalogId = randomUUID();
          const error = await failure(carrier.send(clients, catalogId, bad.apply));
          expect(error.code, error.rawMessage).toBe(Code.InvalidArgument);
          expect(error.rawMessage.startsWith(`${carrier.path}.${field}`), error.rawMessage).toBe(true);
          expect(await app.running.metadata.countRows({ catalogId })).toBe(0);
          expect((await app.running.vectors.scroll({ catalogId, limit: 10 })).points).toEqual([]);
          counts.write++;
        });
      }
    }
    for (const query of QUERY_CASES) {
      it(`${protocol.name} ${query.rpc}: NUL in ${query.field} -> INVALID_ARGUMENT naming it`, async () => {
        const transport = protocol.transport();
        const clients = {
          embeddings: createClient(EmbeddingService, transport),
          retrieval: createClient(RetrievalService, transport),
        };
        const error = await failure(query.send(clients, randomUUID()));
        expect(error.code, error.rawMessage).toBe(Code.InvalidArgument);
        expect(error.rawMessage.startsWith(query.field), error.rawMessage).toBe(true);
        counts.read++;
      });
    }
  }
});
