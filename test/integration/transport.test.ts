import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingService } from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { RetrievalService } from "../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { createRestartableQdrant } from "../helpers/restartable-qdrant.js";
import { startTestApp } from "../helpers/start-test-app.js";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database.js";

describe("transport and start-up checks", () => {
  let database: TestDatabase;
  let certDir: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    certDir = mkdtempSync(join(tmpdir(), "dq-tls-"));
    // A self-signed certificate for 127.0.0.1, made by the openssl CLI.
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        join(certDir, "key.pem"),
        "-out",
        join(certDir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
  });

  afterAll(async () => {
    await database?.drop();
    rmSync(certDir, { recursive: true, force: true });
  });

  it("serves gRPC over TLS when a certificate and key are configured", async () => {
    const app = await startTestApp({
      database,
      env: { TLS_CERT_FILE: join(certDir, "cert.pem"), TLS_KEY_FILE: join(certDir, "key.pem") },
    });
    try {
      const port = app.running.grpcPort;
      const secure = createGrpcTransport({
        baseUrl: `https://127.0.0.1:${port}`,
        nodeOptions: { ca: readFileSync(join(certDir, "cert.pem")) },
      });
      const catalogId = randomUUID();
      const id = randomUUID();
      await createClient(EmbeddingService, secure).upsertEmbedding({
        embedding: { id, catalogId, kind: "table", content: "Table: secure" },
      });
      const found = await createClient(RetrievalService, secure).searchEmbeddings({
        catalogId,
        query: { case: "text", value: "secure" },
      });
      expect(found.hits.map((hit) => hit.embedding?.id)).toEqual([id]);
      // Plaintext HTTP/2 is refused on a TLS port.
      const plaintext = createClient(RetrievalService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
      await expect(
        plaintext.searchEmbeddings({ catalogId, query: { case: "text", value: "secure" } }),
      ).rejects.toThrow();
    } finally {
      await app.stop();
    }
  });

  it("accepts gzip-compressed requests, and answers gzip when asked for responses of 64 KiB or more", async () => {
    const app = await startTestApp({ database });
    try {
      // gzip that counts the response messages the client had to inflate (the gRPC envelope's flag).
      let inflated = 0;
      const countingGzip = {
        name: compressionGzip.name,
        compress: (bytes: Uint8Array) => compressionGzip.compress(bytes),
        decompress: (bytes: Uint8Array, readMaxBytes: number) => {
          inflated++;
          return compressionGzip.decompress(bytes, readMaxBytes);
        },
      };
      const gzip = createGrpcTransport({
        baseUrl: app.baseUrl,
        sendCompression: countingGzip,
        acceptCompression: [countingGzip],
        compressMinBytes: 1,
      });
      const catalogId = randomUUID();
      const ids = Array.from({ length: 100 }, () => randomUUID());
      await createClient(EmbeddingService, gzip).batchUpsertEmbeddings({
        embeddings: ids.map((id, index) => ({
          id,
          catalogId,
          kind: "table",
          content: `Table: compressed ${index} `.repeat(50),
        })),
      });
      const search = createClient(RetrievalService, gzip);
      const one = await search.searchEmbeddings({ catalogId, query: { case: "text", value: "compressed" }, limit: 1 });
      expect(ids).toContain(one.hits[0].embedding?.id);
      // Small answers go uncompressed: gzip would cost more CPU than the bytes it saves.
      expect(inflated).toBe(0);
      const page = await search.searchEmbeddings({
        catalogId,
        query: { case: "text", value: "compressed" },
        limit: 100,
      });
      expect(page.hits).toHaveLength(100);
      expect(inflated).toBe(1);
    } finally {
      await app.stop();
    }
  });

  it("answers UNIMPLEMENTED to a request compressed with an encoding it does not take (br), writing nothing", async () => {
    const app = await startTestApp({ database });
    try {
      const brotli = createGrpcTransport({
        baseUrl: app.baseUrl,
        sendCompression: compressionBrotli,
        compressMinBytes: 1,
      });
      const catalogId = randomUUID();
      const refused = await createClient(EmbeddingService, brotli)
        .upsertEmbedding({
          embedding: { id: randomUUID(), catalogId, kind: "table", content: "Table: brotli ".repeat(20) },
        })
        .then(
          () => undefined,
          (error: unknown) => ConnectError.from(error),
        );
      expect(refused?.code).toBe(Code.Unimplemented);
      expect(refused?.rawMessage).toContain("gzip");
      expect(await app.running.metadata.countRows({ catalogId })).toBe(0);
    } finally {
      await app.stop();
    }
  });

  it("refuses to start on a collection of another dimension, in one line naming both", async () => {
    const qdrant = await createRestartableQdrant();
    await qdrant.start();
    try {
      const first = await startTestApp({ database, env: { ...qdrant.env, EMBEDDING_DIMENSIONS: "32" } });
      await first.stop();
      await expect(startTestApp({ database, env: { ...qdrant.env, EMBEDDING_DIMENSIONS: "64" } })).rejects.toThrow(
        /^Qdrant alias "embeddings" points at collection "embeddings__local-hash-v\d+__32", built with model "local-hash-v\d+" \(32 dimensions\), but the service is configured for model "local-hash-v\d+" \(64 dimensions\): start it with that model and dimension, or switch the alias with `npm run reembed -- --model local-hash-v\d+ --dimensions 64`$/,
      );
      // Another collection name is fine.
      const other = await startTestApp({
        database,
        env: { ...qdrant.env, EMBEDDING_DIMENSIONS: "64", QDRANT_COLLECTION_NAME: "embeddings_64" },
      });
      await other.stop();
    } finally {
      await qdrant.dispose();
    }
  });
});
