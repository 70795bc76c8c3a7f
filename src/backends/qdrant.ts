import { randomBytes } from "node:crypto";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { QdrantClient } from "@qdrant/js-client-grpc";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { createEmbeddedQdrant } from "../embedded/qdrant/index.js";
import { createQdrantVectorStore, DENSE_VECTOR, SPARSE_VECTOR } from "../stores/qdrant-vector-store.js";
import { createAliasBoundVectorStore, createQdrantAliases } from "./qdrant-alias.js";
import { createQdrantWireQuery } from "../stores/qdrant-wire/query-points.js";
import { createQdrantWireUpsert } from "../stores/qdrant-wire/upsert-points.js";
import type { VectorStore } from "../stores/vector-store.js";

export interface QdrantBackend {
  client: QdrantClient;
  host: string;
  port: number;
  /** The embedded server's REST port, when it serves one. */
  httpPort?: number;
  /** QDRANT_API_KEY, or the key generated for the embedded server (no other local process knows it). */
  apiKey: string | undefined;
  close(): Promise<void>;
}

/**
 * The configured Qdrant, or the embedded Qdrant-compatible server on a loopback socket when none is
 * configured. Either way the service talks to it through the real client over gRPC.
 */
export async function openQdrant(options: { config: Config; dataDir: string; logger: Logger }): Promise<QdrantBackend> {
  const { config, dataDir, logger } = options;
  let host = config.qdrant.host;
  let port = config.qdrant.grpcPort;
  let apiKey = config.qdrant.apiKey;
  let close = async () => {};
  let httpPort: number | undefined;
  if (host === undefined) {
    // The embedded server listens on loopback, where any local process could reach it: it gets
    // QDRANT_API_KEY, or a key generated for this run and written (0600) to DATA_DIR/qdrant-api-key so
    // its owner can verify the install the way Qdrant's guide does. gRPC on any free port (only the
    // service uses it); Qdrant's REST API on QDRANT_PORT (6333), so
    // `curl -H "api-key: $(cat DATA_DIR/qdrant-api-key)" localhost:6333/collections/embeddings` works as
    // with real Qdrant. A taken port only warns.
    apiKey ??= randomBytes(32).toString("base64url");
    const keyFile = join(dataDir, "qdrant-api-key");
    await writeFile(keyFile, apiKey, { mode: 0o600 });
    await chmod(keyFile, 0o600);
    const embedded = createEmbeddedQdrant({
      host: "127.0.0.1",
      port: 0,
      apiKey,
      httpPort: config.qdrant.httpPort,
      httpPortOptional: true,
      dataDir: join(dataDir, "qdrant"),
      logger: logger.child({ component: "embedded-qdrant" }),
    });
    ({ host, port } = await embedded.start());
    close = () => embedded.stop();
    httpPort = embedded.httpPort;
    logger.warn(
      { port, httpPort: embedded.httpPort ?? null, apiKeyFile: keyFile },
      "vector store: EMBEDDED Qdrant-compatible server (set QDRANT_HOST or QDRANT_URL for a real Qdrant)",
    );
  } else {
    logger.info({ host, port, collection: config.qdrant.collectionName }, "vector store: Qdrant over gRPC");
  }
  const https = config.qdrant.host !== undefined && config.qdrant.https;
  const client = new QdrantClient({
    host,
    port,
    https,
    // The client warns on stdout (not through our logger) when a key travels without TLS. For the
    // embedded server that is loopback by design, so its key goes as a plain header instead.
    ...(config.qdrant.host === undefined && apiKey !== undefined ? { headers: { "api-key": apiKey } } : { apiKey }),
    timeout: config.qdrant.timeoutMs,
    // gzip costs ~230 us per 3072-d vector for an 8% saving; readiness checks the server instead.
    compression: false,
    checkCompatibility: false,
  });
  return { client, host, port, httpPort, apiKey, close };
}

/**
 * The vector store the service uses: through QDRANT_COLLECTION_NAME, an alias bound to this model's
 * collection (./qdrant-alias.ts), with upserts and searches carrying vectors as bytes, each on a
 * connection of its own (stores/qdrant-wire/): same server, key, timeout as the client.
 */
export function createConfiguredVectorStore(options: {
  config: Config;
  backend: QdrantBackend;
  model: string;
  logger: Logger;
}): VectorStore {
  const { config } = options;
  return createAliasBoundVectorStore({
    aliases: createQdrantAliases(options.backend.client),
    alias: config.qdrant.collectionName,
    model: options.model,
    dimensions: config.embedding.dimensions,
    store: createCollectionVectorStore({ ...options, collectionName: config.qdrant.collectionName }),
    storeFor: (collectionName) => createCollectionVectorStore({ ...options, collectionName }),
    logger: options.logger,
  });
}

/**
 * The vector store on one collection (or alias) name for `model` at EMBEDDING_DIMENSIONS, with the
 * configured cluster settings; `npm run reembed` uses it for the collection it builds.
 */
export function createCollectionVectorStore(options: {
  config: Config;
  backend: QdrantBackend;
  model: string;
  logger: Logger;
  collectionName: string;
}): VectorStore {
  const { config, backend } = options;
  const connection = {
    host: backend.host,
    port: backend.port,
    https: config.qdrant.host !== undefined && config.qdrant.https,
    apiKey: backend.apiKey,
    timeoutMs: config.qdrant.timeoutMs,
  };
  return createQdrantVectorStore({
    client: backend.client,
    collectionName: options.collectionName,
    dimensions: config.embedding.dimensions,
    model: options.model,
    shardNumber: config.qdrant.shardNumber,
    replicationFactor: config.qdrant.replicationFactor,
    writeConsistencyFactor: config.qdrant.writeConsistencyFactor,
    logger: options.logger,
    wireUpsert: createQdrantWireUpsert({ ...connection, vectorNames: { dense: DENSE_VECTOR, sparse: SPARSE_VECTOR } }),
    wireQuery: createQdrantWireQuery(connection),
  });
}
