// The splice path end to end: vectors travel as bytes from our request to Qdrant's (DESIGN.md).
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, type DescService, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FieldOptionsSchema } from "@bufbuild/protobuf/wkt";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  PointsOperationResponseSchema,
  QdrantClient,
  QueryBatchPointsSchema,
  QueryPointsSchema,
  UpsertPointsSchema,
} from "@qdrant/js-client-grpc";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmbeddedQdrant, type EmbeddedQdrant } from "../../src/embedded/qdrant/index.js";
import { createQdrantVectorStore, DENSE_VECTOR, SPARSE_VECTOR } from "../../src/stores/qdrant-vector-store.js";
import { createQdrantWireQuery } from "../../src/stores/qdrant-wire/query-points.js";
import { createQdrantWireUpsert } from "../../src/stores/qdrant-wire/upsert-points.js";
import type { VectorStore } from "../../src/stores/vector-store.js";
import { JSON_ONLY_FIELD } from "../../src/server/wire/shadow-services.js";
import { shadowRegistry } from "../../src/wire/shadow-registry.js";
import { EmbeddingInputSchema } from "../../gen/dq/embeddings/v1/embedding_pb.js";
import { file_dq_embeddings_v1_embedding_service } from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";
import { realUpsertBytes, samplePoints } from "../unit/stores/qdrant-wire/points-fixture.js";

const logger = pino({ level: "silent" });
const DIMENSIONS = 3072;
const vectorNames = { dense: DENSE_VECTOR, sparse: SPARSE_VECTOR };

/** A plaintext HTTP/2 server that records each gRPC request's message bytes and answers Upsert OK. */
async function startRecordingServer(): Promise<{
  url: string;
  bodies: Buffer[];
  paths: string[];
  stop(): Promise<void>;
}> {
  const bodies: Buffer[] = [];
  const paths: string[] = [];
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  server.on("stream", (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      paths.push(String(headers[":path"]));
      bodies.push(Buffer.concat(chunks));
      const reply = toBinary(PointsOperationResponseSchema, create(PointsOperationResponseSchema, { time: 0.001 }));
      const envelope = Buffer.alloc(5 + reply.length);
      envelope.writeUInt32BE(reply.length, 1);
      envelope.set(reply, 5);
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(envelope);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `127.0.0.1:${port}`,
    bodies,
    paths,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        sessions.forEach((session) => session.destroy()); // the client keeps its connection open
      }),
  };
}

describe("outbound: Points.Upsert with vectors as bytes", () => {
  it("reaches the server byte for byte as toBinary of the real UpsertPoints, uncompressed", async () => {
    const recorder = await startRecordingServer();
    try {
      const [host, port] = recorder.url.split(":");
      const upsert = createQdrantWireUpsert({ host, port: Number(port), timeoutMs: 10_000, vectorNames });
      const points = samplePoints(64, DIMENSIONS);
      await upsert.upsert({ collectionName: "embeddings", wait: true, points });
      expect(recorder.paths).toEqual(["/qdrant.Points/Upsert"]);
      const body = recorder.bodies[0];
      expect(body[0]).toBe(0); // the gRPC envelope's compressed flag: off
      const expected = realUpsertBytes("embeddings", points);
      expect(body.readUInt32BE(1)).toBe(expected.length);
      expect(body.subarray(5).equals(Buffer.from(expected))).toBe(true);
    } finally {
      await recorder.stop();
    }
  });

  describe("against the embedded Qdrant", () => {
    let qdrant: EmbeddedQdrant;
    let client: QdrantClient;
    const stores: Record<"real" | "wire", VectorStore> = {} as never;

    beforeAll(async () => {
      qdrant = createEmbeddedQdrant({ host: "127.0.0.1", port: 0, logger });
      const { host, port } = await qdrant.start();
      client = new QdrantClient({ host, port, compression: false, checkCompatibility: false });
      const common = { client, dimensions: DIMENSIONS, model: "precomputed", logger };
      stores.real = createQdrantVectorStore({ ...common, collectionName: "splice_real" });
      stores.wire = createQdrantVectorStore({
        ...common,
        collectionName: "splice_wire",
        wireUpsert: createQdrantWireUpsert({ host, port, timeoutMs: 10_000, vectorNames }),
        wireQuery: createQdrantWireQuery({ host, port, timeoutMs: 10_000 }),
      });
      await stores.real.start();
      await stores.wire.start();
    });
    afterAll(async () => {
      await qdrant.stop();
    });

    it("stores the same vectors and payloads whichever path wrote them", async () => {
      const points = samplePoints(20, DIMENSIONS);
      await stores.real.upsert(points);
      await stores.wire.upsert(points);
      const ids = points.map((p) => p.id);
      const real = await stores.real.get(ids, { withVector: true });
      const wire = await stores.wire.get(ids, { withVector: true });
      expect(wire).toHaveLength(points.length);
      expect(wire).toEqual(real);
      // Cosine collections store the unit vector: the wire path sent the caller's floats.
      for (const [i, stored] of wire.entries()) {
        const source = points[i].vector;
        const norm = Math.hypot(...source);
        expect(stored.vector?.[1]).toBeCloseTo(source[1] / norm, 6);
        expect(stored.payload).toEqual(points[i].payload);
      }
    });

    it("finds the same hits whichever path sent the query (dense search and hybrid QueryBatch)", async () => {
      const points = samplePoints(30, DIMENSIONS);
      await stores.real.upsert(points);
      await stores.wire.upsert(points);
      const filter = { catalogId: points[0].payload.catalog_id };
      for (const probe of [points[3], points[8]]) {
        const search = { filter, vector: probe.vector, limit: 7, offset: 1 };
        const real = await stores.real.search(search);
        const wire = await stores.wire.search(search);
        expect(wire).toHaveLength(7);
        expect(wire).toEqual(real);
        const hybrid = {
          filter,
          vector: probe.vector,
          sparse: { indices: Uint32Array.from([3, 17]), values: Float32Array.from([1, 0.5]) },
          limit: 10,
          candidates: 20,
          denseThreshold: -1,
        };
        const realHybrid = await stores.real.searchHybrid(hybrid);
        const wireHybrid = await stores.wire.searchHybrid(hybrid);
        expect(wireHybrid.hits.length).toBeGreaterThan(0);
        expect(wireHybrid).toEqual(realHybrid);
      }
    });
  });
});

/**
 * An h2c proxy in front of a gRPC server that records each request's path, user agent and message
 * bytes, so a test can see what the service sends to Qdrant.
 */
async function startRecordingProxy(
  upstream: string,
): Promise<{ port: number; requests: { path: string; userAgent: string; body: Buffer }[]; stop(): Promise<void> }> {
  const requests: { path: string; userAgent: string; body: Buffer }[] = [];
  const client = http2.connect(upstream);
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  server.on("stream", (stream, headers) => {
    const forwarded: http2.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(headers)) {
      if (name !== ":authority" && name !== ":scheme" && typeof name === "string") forwarded[name] = value;
    }
    const up = client.request(forwarded);
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      up.write(chunk);
    });
    stream.on("end", () => {
      requests.push({
        path: String(headers[":path"]),
        userAgent: String(headers["user-agent"]),
        body: Buffer.concat(chunks),
      });
      up.end();
    });
    let trailers: http2.IncomingHttpHeaders | undefined;
    up.on("response", (response) => {
      const { ":status": status, ...rest } = response;
      stream.respond({ ":status": status, ...rest }, { waitForTrailers: true });
    });
    up.on("trailers", (received) => (trailers = received));
    up.on("data", (chunk: Buffer) => stream.write(chunk));
    up.on("end", () => stream.end());
    stream.on("wantTrailers", () => stream.sendTrailers(trailers ?? { "grpc-status": "0" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        client.close();
        server.close(() => resolve());
        sessions.forEach((session) => session.destroy());
      }),
  };
}

/** Sends one gRPC request's message bytes over h2c; resolves with the grpc-status trailer. */
async function grpcUnaryStatus(baseUrl: string, path: string, message: Uint8Array): Promise<string> {
  const session = http2.connect(baseUrl);
  try {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
    });
    const envelope = Buffer.alloc(5 + message.length);
    envelope.writeUInt32BE(message.length, 1);
    envelope.set(message, 5);
    stream.end(envelope);
    return await new Promise<string>((resolve, reject) => {
      let status = "";
      stream.on("response", (headers) => (status = String(headers["grpc-status"] ?? status)));
      stream.on("trailers", (trailers) => (status = String(trailers["grpc-status"] ?? status)));
      stream.on("error", reject);
      stream.on("data", () => undefined);
      stream.on("end", () => resolve(status));
    });
  } finally {
    session.close();
  }
}

/** Our EmbeddingService with EmbeddingInput.vector sent unpacked (`[packed = false]`), as some clients do. */
function unpackedEmbeddingService(): DescService {
  const registry = shadowRegistry(
    file_dq_embeddings_v1_embedding_service,
    (file) => file.proto.package === "dq.embeddings.v1",
    (proto) => {
      const field = proto.messageType.find((m) => m.name === "EmbeddingInput")?.field.find((f) => f.name === "vector");
      if (field !== undefined) field.options = create(FieldOptionsSchema, { packed: false });
    },
  );
  const service = registry.getService("dq.embeddings.v1.EmbeddingService");
  if (service === undefined) throw new Error("no service");
  return service;
}

describe("outbound through the service", () => {
  let qdrant: EmbeddedQdrant;
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  let app: TestApp;
  beforeAll(async () => {
    qdrant = createEmbeddedQdrant({ host: "127.0.0.1", port: 0, logger });
    const { port } = await qdrant.start();
    proxy = await startRecordingProxy(`http://127.0.0.1:${port}`);
    app = await startTestApp({
      env: { EMBEDDING_DIMENSIONS: "16", QDRANT_HOST: "127.0.0.1", QDRANT_GRPC_PORT: String(proxy.port) },
    });
  });
  afterAll(async () => {
    await app?.stop();
    await proxy?.stop();
    await qdrant?.stop();
  });

  it("upserts through the bytes path, and Qdrant gets exactly what toBinary of the real UpsertPoints writes", async () => {
    const catalogId = crypto.randomUUID();
    const vectors = samplePoints(3, 16).map((p) => p.vector);
    const ids = vectors.map(() => crypto.randomUUID());
    const seen = proxy.requests.length;
    await app.embeddings.batchUpsertEmbeddings({
      embeddings: ids.map((id, i) => ({
        id,
        catalogId,
        kind: "column",
        content: `Column: t.c${i}`,
        vector: Array.from(vectors[i]),
      })),
    });
    const upserts = proxy.requests.slice(seen).filter((r) => r.path === "/qdrant.Points/Upsert");
    expect(upserts.map((r) => r.userAgent)).toEqual(["dq-embeddings (qdrant wire upsert)"]);
    const body = upserts[0].body;
    expect(body[0]).toBe(0); // uncompressed
    const message = body.subarray(5, 5 + body.readUInt32BE(1));
    const decoded = fromBinary(UpsertPointsSchema, message);
    expect(Buffer.from(toBinary(UpsertPointsSchema, decoded)).equals(message)).toBe(true);
    const dense = decoded.points.map((p) => {
      const options = p.vectors?.vectorsOptions;
      const vector = options?.case === "vectors" ? options.value.vectors.dense?.vector : undefined;
      return vector?.case === "dense" ? Float32Array.from(vector.value.data) : undefined;
    });
    expect(dense).toEqual(vectors);
    expect(decoded.points.map((p) => p.id?.pointIdOptions.value)).toEqual(ids);
  });

  it("searches through the bytes path: Qdrant gets the query vector's floats exactly, and the hits come back", async () => {
    const catalogId = crypto.randomUUID();
    const vectors = samplePoints(3, 16).map((p) => p.vector);
    const ids = vectors.map(() => crypto.randomUUID());
    await app.embeddings.batchUpsertEmbeddings({
      embeddings: ids.map((id, i) => ({
        id,
        catalogId,
        kind: "column",
        content: `c${i}`,
        vector: Array.from(vectors[i]),
      })),
    });
    const seen = proxy.requests.length;
    const { hits } = await app.retrieval.searchEmbeddings({
      catalogId,
      query: { case: "vector", value: { values: Array.from(vectors[1]) } },
      limit: 3,
    });
    expect(hits[0].embedding?.id).toBe(ids[1]);
    expect(hits.map((hit) => hit.embedding?.id).sort()).toEqual([...ids].sort());
    const queries = proxy.requests.slice(seen).filter((r) => r.path === "/qdrant.Points/Query");
    expect(queries.map((r) => r.userAgent)).toEqual(["dq-embeddings (qdrant wire query)"]);
    const body = queries[0].body;
    expect(body[0]).toBe(0); // uncompressed
    const message = body.subarray(5, 5 + body.readUInt32BE(1));
    const decoded = fromBinary(QueryPointsSchema, message);
    expect(Buffer.from(toBinary(QueryPointsSchema, decoded)).equals(message)).toBe(true);
    const nearest = decoded.query?.variant.case === "nearest" ? decoded.query.variant.value.variant : undefined;
    expect(nearest?.case === "dense" ? Float32Array.from(nearest.value.data) : undefined).toEqual(vectors[1]);

    const batches = proxy.requests.length;
    await app.retrieval.retrieveContext({ catalogId, question: "which column", minRelevance: -1 });
    const batch = proxy.requests.slice(batches).filter((r) => r.path === "/qdrant.Points/QueryBatch");
    expect(batch.map((r) => r.userAgent)).toEqual(["dq-embeddings (qdrant wire query)"]);
    const batchMessage = batch[0].body.subarray(5);
    const decodedBatch = fromBinary(QueryBatchPointsSchema, batchMessage);
    expect(Buffer.from(toBinary(QueryBatchPointsSchema, decodedBatch)).equals(batchMessage)).toBe(true);
    expect(decodedBatch.queryPoints.map((q) => q.using)).toEqual(["dense", "sparse"]);
  });
});

describe("inbound and outbound through the service", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ env: { EMBEDDING_DIMENSIONS: String(DIMENSIONS) } });
  });
  afterAll(async () => {
    await app?.stop();
  });

  it.each(["packed", "unpacked"] as const)("stores a %s precomputed vector exactly as sent", async (encoding) => {
    const catalogId = crypto.randomUUID();
    const id = crypto.randomUUID();
    const vector = samplePoints(1, DIMENSIONS)[0].vector.map((x, i) => x + i * 1e-4);
    const embeddings =
      encoding === "packed"
        ? app.embeddings
        : (createClient(
            unpackedEmbeddingService(),
            createGrpcTransport({ baseUrl: app.baseUrl }),
          ) as unknown as typeof app.embeddings);
    await embeddings.upsertEmbedding({
      embedding: { id, catalogId, kind: "table", content: `Table: ${encoding}`, vector: Array.from(vector) },
    });
    const got = await app.embeddings.getEmbedding({ id, catalogId, includeVector: true });
    const norm = Math.hypot(...vector);
    expect(got.embedding?.vector).toHaveLength(DIMENSIONS);
    expect(got.embedding?.vector[7]).toBeCloseTo(vector[7] / norm, 6);
    const [point] = await app.running.vectors.get([id], { withVector: true });
    expect(point.payload.catalog_id).toBe(catalogId);
    expect(Array.from(point.vector ?? [])).toEqual(got.embedding?.vector);
  });

  it("decodes EmbeddingService requests with the shadow descriptors (vectors stay bytes)", async () => {
    // Only the shadow descriptors know JSON_ONLY_FIELD (where they move `vector`); the real ones skip
    // it. A request carrying the vector there is stored with that vector only if the shadow decoded it.
    const id = crypto.randomUUID();
    const vector = samplePoints(1, DIMENSIONS)[0].vector;
    const catalogId = crypto.randomUUID();
    const input = toBinary(
      EmbeddingInputSchema,
      create(EmbeddingInputSchema, { id, catalogId, kind: "table", content: "Table: shadow" }),
    );
    const writer = new BinaryWriter()
      .raw(input)
      .tag(JSON_ONLY_FIELD, WireType.LengthDelimited)
      .bytes(new Uint8Array(vector.buffer));
    const request = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(writer.finish()).finish();
    expect(await grpcUnaryStatus(app.baseUrl, "/dq.embeddings.v1.EmbeddingService/UpsertEmbedding", request)).toBe("0");
    const got = await app.embeddings.getEmbedding({ id, catalogId, includeVector: true });
    expect(got.embedding?.model).toBe("precomputed");
    expect(got.embedding?.vector[3]).toBeCloseTo(vector[3] / Math.hypot(...vector), 6);
  });

  it("rejects a NaN in an unpacked vector naming its index", async () => {
    const vector = Array.from(samplePoints(1, DIMENSIONS)[0].vector);
    vector[42] = Number.NaN;
    const embeddings = createClient(
      unpackedEmbeddingService(),
      createGrpcTransport({ baseUrl: app.baseUrl }),
    ) as unknown as typeof app.embeddings;
    await expect(
      embeddings.upsertEmbedding({
        embedding: { id: crypto.randomUUID(), catalogId: crypto.randomUUID(), kind: "table", content: "x", vector },
      }),
    ).rejects.toThrow(/embedding\.vector\[42\]: must be a finite number/);
  });
});
