import { pino } from "pino";
import { createConfiguredVectorStore, type QdrantBackend } from "../../src/backends/qdrant.js";
import { loadConfig } from "../../src/config.js";
import { createEmbeddedQdrant } from "../../src/embedded/qdrant/index.js";
import { createQdrantVectorStore } from "../../src/stores/qdrant-vector-store.js";
import { QdrantClient } from "@qdrant/js-client-grpc";
import { CONTRACT_DIMENSIONS, describeVectorStoreContract } from "../contract/vector-store.js";

const logger = pino({ level: "silent" });

/** The embedded Qdrant on a loopback port, and a client as openQdrant builds it. */
async function embeddedBackend(): Promise<QdrantBackend> {
  const server = createEmbeddedQdrant({ host: "127.0.0.1", port: 0, logger });
  const { host, port } = await server.start();
  const client = new QdrantClient({ host, port, compression: false, checkCompatibility: false });
  return { client, host, port, apiKey: undefined, close: () => server.stop() };
}

// As the service builds it: an alias bound to the model's collection, upserts as bytes (qdrant-wire/).
describeVectorStoreContract("Qdrant store on the embedded server, as the service configures it", async () => {
  const backend = await embeddedBackend();
  const config = loadConfig({
    QDRANT_HOST: backend.host,
    QDRANT_GRPC_PORT: String(backend.port),
    QDRANT_COLLECTION_NAME: "contract",
    EMBEDDING_DIMENSIONS: String(CONTRACT_DIMENSIONS),
  });
  return {
    store: createConfiguredVectorStore({ config, backend, model: "contract-model", logger }),
    close: backend.close,
  };
});

// The plain store on one collection, upserting through the client's own Upsert.
describeVectorStoreContract("Qdrant store on the embedded server, client Upsert", async () => {
  const backend = await embeddedBackend();
  return {
    store: createQdrantVectorStore({
      client: backend.client,
      collectionName: "contract_client_upsert",
      dimensions: CONTRACT_DIMENSIONS,
      model: "contract-model",
      logger,
    }),
    close: backend.close,
  };
});
