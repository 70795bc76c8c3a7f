import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingService } from "../../gen/dq/embeddings/v1/embedding_service_pb.js";
import { RetrievalService } from "../../gen/dq/embeddings/v1/retrieval_service_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { bufCurl } from "../helpers/buf-curl.js";
import { createGrpcJsClient } from "../helpers/grpc-js-client.js";
import { startTestApp, type TestApp } from "../helpers/start-test-app.js";

describe("callers that are not connect: buf curl (grpcurl's equivalent) and @grpc/grpc-js", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ env: { API_KEYS: "first-key,second-key" } });
  });

  afterAll(async () => {
    await app?.stop();
  });

  it("lists both services, health and reflection through reflection", async () => {
    const result = await bufCurl(app.baseUrl, { listServices: true });
    expect(result.exitCode).toBe(0);
    expect(result.lines).toEqual(
      expect.arrayContaining([
        "dq.embeddings.v1.EmbeddingService",
        "dq.embeddings.v1.RetrievalService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]),
    );
    const methods = await bufCurl(app.baseUrl, { listMethods: true }, { reflectProtocol: "grpc-v1alpha" });
    expect(methods.lines).toContain("dq.embeddings.v1.EmbeddingService/StreamUpsertEmbeddings");
  });

  it("reports every service SERVING once Postgres and Qdrant answer, without an API key", async () => {
    for (const service of ["", "dq.embeddings.v1.EmbeddingService", "dq.embeddings.v1.RetrievalService"]) {
      const result = await bufCurl(app.baseUrl, { method: "grpc.health.v1.Health/Check", data: { service } });
      expect(result.json, service).toEqual([{ status: "SERVING" }]);
    }
  });

  it("refuses calls without a valid bearer key with UNAUTHENTICATED", async () => {
    const request = {
      method: "dq.embeddings.v1.EmbeddingService/GetEmbedding",
      data: { id: randomUUID(), catalog_id: randomUUID() },
    };
    const none = await bufCurl(app.baseUrl, request);
    expect(none.error?.code).toBe("unauthenticated");
    const wrong = await bufCurl(app.baseUrl, request, { headers: ["authorization: Bearer first-keyX"] });
    expect(wrong.error?.code).toBe("unauthenticated");
    const right = await bufCurl(app.baseUrl, request, { headers: ["authorization: Bearer second-key"] });
    expect(right.error?.code).toBe("not_found");
  });

  it("upserts and searches with JSON through reflection, as an engineer would from a shell", async () => {
    const catalogId = randomUUID();
    const id = randomUUID();
    const headers = ["authorization: Bearer first-key"];
    const upsert = await bufCurl(
      app.baseUrl,
      {
        method: "dq.embeddings.v1.EmbeddingService/UpsertEmbedding",
        data: {
          embedding: {
            id,
            catalog_id: catalogId,
            kind: "table",
            content: "Table: concert. Columns: concert_id, concert_name, theme, year",
            metadata: { owner: "shell" },
          },
        },
      },
      { headers },
    );
    expect(upsert.exitCode).toBe(0);
    expect(upsert.json[0]).toMatchObject({ embedding: { id, qdrantPointId: id }, outcome: "UPSERT_OUTCOME_CREATED" });
    const search = await bufCurl(
      app.baseUrl,
      {
        method: "dq.embeddings.v1.RetrievalService/SearchEmbeddings",
        data: { catalog_id: catalogId, text: "concerts by year", limit: 3 },
      },
      { headers },
    );
    expect(search.json[0]).toMatchObject({
      hits: [
        {
          embedding: {
            id,
            content: "Table: concert. Columns: concert_id, concert_name, theme, year",
            metadata: { owner: "shell" },
          },
        },
      ],
    });
  });

  it("interoperates with @grpc/grpc-js for unary calls, keys and health", async () => {
    const address = `127.0.0.1:${app.running.grpcPort}`;
    const anonymous = createGrpcJsClient(address);
    const client = createGrpcJsClient(address, { metadata: { authorization: "Bearer second-key" } });
    try {
      const health = await anonymous.unary(Health.method.check, { service: "dq.embeddings.v1.RetrievalService" });
      expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      await expect(anonymous.unary(EmbeddingService.method.getEmbedding, { id: randomUUID() })).rejects.toMatchObject({
        code: grpc.status.UNAUTHENTICATED,
      });

      const catalogId = randomUUID();
      const id = randomUUID();
      await client.unary(EmbeddingService.method.upsertEmbedding, {
        embedding: { id, catalogId, kind: "column", content: "Column: concert.year" },
      });
      const found = await client.unary(RetrievalService.method.searchEmbeddings, {
        catalogId,
        query: { case: "text", value: "year" },
      });
      expect(found.hits.map((hit) => hit.embedding?.id)).toEqual([id]);
      await expect(client.unary(EmbeddingService.method.getEmbedding, { id: "not-a-uuid" })).rejects.toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        details: expect.stringContaining("id"),
      });
    } finally {
      anonymous.close();
      client.close();
    }
  });
});
