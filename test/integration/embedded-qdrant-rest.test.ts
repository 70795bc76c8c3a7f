// The embedded Qdrant answers the REST calls operators verify a Qdrant install with (Qdrant's
// pgvector migration guide: curl :6333/, /collections/{name}, /healthz, /readyz, /metrics), with the
// JSON shapes of Qdrant 1.19's OpenAPI schema (test/helpers/openapi-shape.ts), standalone and when the
// service starts it.
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { QdrantClient } from "@qdrant/js-client-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CollectionExistence,
  CollectionInfo,
  CollectionsAliasesResponse,
  CollectionsResponse,
  ErrorResponse,
  okResponse,
  shapeDifferences,
  VersionInfo,
} from "../helpers/openapi-shape.js";
import { startTestApp } from "../helpers/start-test-app.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const API_KEY = "rest-key-5d2a";

interface Standalone {
  child: ChildProcess;
  grpcPort: number;
  httpPort: number;
}

/** `npm run qdrant`'s entry point on ephemeral ports, with an API key; resolves when both faces are up. */
async function startStandalone(): Promise<Standalone> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/cli/embedded-qdrant.ts", "--port", "0", "--http-port", "0", "--api-key", API_KEY],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const lines = readline.createInterface({ input: child.stdout });
  let grpcPort: number | undefined;
  let httpPort: number | undefined;
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`embedded-qdrant exited early with ${code}`)));
    lines.on("line", (line) => {
      const entry = JSON.parse(line) as { msg?: string; port?: number; httpPort?: number };
      if (entry.httpPort !== undefined) httpPort = entry.httpPort;
      if (entry.msg?.includes("ready (gRPC)")) grpcPort = entry.port;
      if (grpcPort !== undefined && httpPort !== undefined) resolve();
    });
  });
  return { child, grpcPort: grpcPort!, httpPort: httpPort! };
}

async function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; text: string; json(): any }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get("content-type") ?? "",
    text,
    json: () => JSON.parse(text),
  };
}

describe("embedded Qdrant REST API, standalone (npm run qdrant)", () => {
  let server: Standalone;
  let client: QdrantClient;
  const collection = `rest_${randomUUID().slice(0, 8)}`;
  const withKey = { "api-key": API_KEY };

  beforeAll(async () => {
    server = await startStandalone();
    client = new QdrantClient({
      url: `http://127.0.0.1:${server.grpcPort}`,
      apiKey: API_KEY,
      compression: false,
      checkCompatibility: false,
    });
    // The collection as the service creates it: a named dense vector, a sparse one with IDF, metadata,
    // a tenant keyword index; then three points, one of them without the sparse vector.
    await client.api("collections").create({
      collectionName: collection,
      vectorsConfig: { config: { case: "paramsMap", value: { map: { dense: { size: 4n, distance: 1 } } } } },
      sparseVectorsConfig: { map: { sparse: { modifier: 1 } } },
      metadata: { embedding_model: { kind: { case: "stringValue", value: "m-1" } } },
    });
    await client.api("points").createFieldIndex({
      collectionName: collection,
      fieldName: "catalog_id",
      fieldType: 0,
      wait: true,
      fieldIndexParams: { indexParams: { case: "keywordIndexParams", value: { isTenant: true } } },
    });
    await client.api("points").upsert({
      collectionName: collection,
      wait: true,
      points: [1, 2, 3].map((n) => ({
        id: { pointIdOptions: { case: "num", value: BigInt(n) } },
        vectors: {
          vectorsOptions: {
            case: "vectors",
            value: {
              vectors: {
                dense: { data: [n, 1, 0, 0] },
                ...(n < 3 ? { sparse: { data: [1], indices: { data: [n] } } } : {}),
              },
            },
          },
        },
        payload: { catalog_id: { kind: { case: "stringValue", value: "c1" } } },
      })),
    });
    await client.api("collections").updateAliases({
      actions: [
        { action: { case: "createAlias", value: { aliasName: `${collection}_alias`, collectionName: collection } } },
      ],
    });
  });

  afterAll(async () => {
    if (server !== undefined) {
      const exited = new Promise((resolve) => server.child.once("exit", resolve));
      server.child.kill("SIGTERM");
      await exited;
    }
  });

  it("GET / answers the version info, without a key", async () => {
    const root = await get(server.httpPort, "/");
    expect(root.status).toBe(200);
    expect(root.type).toContain("application/json");
    expect(shapeDifferences(root.json(), VersionInfo)).toEqual([]);
    expect(root.json()).toEqual({ title: "qdrant - vector search engine", version: "1.19.0" });
  });

  it("/healthz, /livez and /readyz answer Qdrant's plain-text bodies, without a key", async () => {
    for (const [path, body] of [
      ["/healthz", "healthz check passed"],
      ["/livez", "healthz check passed"],
      ["/readyz", "all shards are ready"],
    ]) {
      const answer = await get(server.httpPort, path);
      expect({ path, status: answer.status, text: answer.text }).toEqual({ path, status: 200, text: body });
      expect(answer.type).toContain("text/plain");
    }
  });

  it("everything else needs the key, as api-key or a bearer token", async () => {
    expect((await get(server.httpPort, "/collections")).status).toBe(401);
    expect((await get(server.httpPort, "/metrics", { "api-key": "wrong" })).status).toBe(401);
    expect((await get(server.httpPort, "/collections", { authorization: `Bearer ${API_KEY}` })).status).toBe(200);
  });

  it("GET /collections lists the collection in the CollectionsResponse shape", async () => {
    const answer = await get(server.httpPort, "/collections", withKey);
    expect(answer.status).toBe(200);
    expect(shapeDifferences(answer.json(), okResponse(CollectionsResponse))).toEqual([]);
    expect(answer.json().result.collections).toContainEqual({ name: collection });
  });

  it("GET /collections/{name} (and through an alias) matches CollectionInfo, with counts, config and payload schema", async () => {
    for (const name of [collection, `${collection}_alias`]) {
      const answer = await get(server.httpPort, `/collections/${name}`, withKey);
      expect(answer.status).toBe(200);
      const body = answer.json();
      expect(shapeDifferences(body, okResponse(CollectionInfo))).toEqual([]);
      expect(body.result).toMatchObject({
        status: "green",
        optimizer_status: "ok",
        points_count: 3,
        config: {
          params: {
            vectors: { dense: { size: 4, distance: "Cosine" } },
            sparse_vectors: { sparse: { modifier: "idf" } },
            shard_number: 1,
          },
          hnsw_config: { m: 16, ef_construct: 100 },
          metadata: { embedding_model: "m-1" },
        },
        payload_schema: {
          catalog_id: { data_type: "keyword", params: { type: "keyword", is_tenant: true }, points: 3 },
        },
      });
    }
  });

  it("the shape check notices a wrong type, a missing key and an unknown key", async () => {
    const body = (await get(server.httpPort, `/collections/${collection}`, withKey)).json();
    const broken = structuredClone(body);
    broken.result.points_count = "3";
    delete broken.result.config.hnsw_config.m;
    broken.result.config.params.extra = 1;
    expect(shapeDifferences(broken, okResponse(CollectionInfo))).toEqual([
      '$.result.points_count: expected integer, got "3"',
      '$.result.config.params: key "extra" is not in the schema',
      '$.result.config.hnsw_config: required key "m" is missing',
    ]);
  });

  it("an unknown collection is 404 with Qdrant's ErrorResponse and message", async () => {
    const answer = await get(server.httpPort, "/collections/nope_missing", withKey);
    expect(answer.status).toBe(404);
    expect(shapeDifferences(answer.json(), ErrorResponse)).toEqual([]);
    expect(answer.json().status).toEqual({ error: "Not found: Collection `nope_missing` doesn't exist!" });
  });

  it("exists and aliases answer in their shapes", async () => {
    const exists = await get(server.httpPort, `/collections/${collection}/exists`, withKey);
    expect(shapeDifferences(exists.json(), okResponse(CollectionExistence))).toEqual([]);
    expect(exists.json().result).toEqual({ exists: true });
    expect((await get(server.httpPort, "/collections/nope_missing/exists", withKey)).json().result).toEqual({
      exists: false,
    });
    for (const path of ["/aliases", `/collections/${collection}/aliases`]) {
      const aliases = await get(server.httpPort, path, withKey);
      expect(shapeDifferences(aliases.json(), okResponse(CollectionsAliasesResponse))).toEqual([]);
      expect(aliases.json().result.aliases).toContainEqual({
        alias_name: `${collection}_alias`,
        collection_name: collection,
      });
    }
  });

  it("GET /metrics uses Qdrant's metric names with the server's counts", async () => {
    const answer = await get(server.httpPort, "/metrics", withKey);
    expect(answer.status).toBe(200);
    expect(answer.type).toContain("text/plain");
    const samples = answer.text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
    expect(samples).toEqual(
      expect.arrayContaining([
        'app_info{name="qdrant",version="1.19.0"} 1',
        "collections_total 1",
        `collection_points{id="${collection}"} 3`,
        `collection_vectors{collection="${collection}",vector="dense"} 3`,
        `collection_vectors{collection="${collection}",vector="sparse"} 2`,
        "collections_vector_total 5",
        "cluster_enabled 0",
      ]),
    );
  });

  it("writes are refused with a message pointing at gRPC", async () => {
    const response = await fetch(`http://127.0.0.1:${server.httpPort}/collections/${collection}/points`, {
      method: "PUT",
      headers: withKey,
      body: "{}",
    });
    expect(response.status).toBe(405);
    expect(((await response.json()) as { status: { error: string } }).status.error).toContain(
      `gRPC API on port ${server.grpcPort}`,
    );
  });
});

describe("embedded Qdrant REST API, started by the service", () => {
  it("serves the service's collection on the configured QDRANT_PORT", async () => {
    // The service's embedded Qdrant takes QDRANT_API_KEY when set (a generated key otherwise).
    const key = { "api-key": `k-${randomUUID()}` };
    const app = await startTestApp({
      env: { EMBEDDING_DIMENSIONS: "64", QDRANT_API_KEY: key["api-key"] },
      embeddedQdrant: true,
    });
    try {
      const httpPort = app.running.qdrant.httpPort;
      expect(httpPort).toBeGreaterThan(0);
      expect((await get(httpPort!, "/collections/embeddings")).status).toBe(401);
      const before = (await get(httpPort!, "/collections/embeddings", key)).json();
      expect(shapeDifferences(before, okResponse(CollectionInfo))).toEqual([]);
      expect(before.result.points_count).toBe(0);
      expect(before.result.config.params.vectors.dense).toEqual({ size: 64, distance: "Cosine" });
      await app.embeddings.upsertEmbedding({
        embedding: { id: randomUUID(), catalogId: randomUUID(), kind: "table", content: "Table: rest" },
      });
      const after = (await get(httpPort!, "/collections/embeddings", key)).json();
      expect(after.result.points_count).toBe(1);
      expect((await get(httpPort!, "/readyz")).text).toBe("all shards are ready");
    } finally {
      await app.stop();
    }
  });
});
