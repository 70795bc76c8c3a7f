import type { DescService } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type } from "@bufbuild/protobuf/wkt";
import { createClient, type Transport } from "@connectrpc/connect";
import { shadowRegistry } from "../../src/wire/shadow-registry.js";
import { file_dq_embeddings_v1_embedding_service } from "../../gen/dq/embeddings/v1/embedding_service_pb.js";

/**
 * The benchmark's client: our EmbeddingService with `EmbeddingInput.vector` declared `bytes`, so a
 * message carries a vector's float32 bytes and encodes to exactly what a packed `repeated float` is on
 * the wire. The load generator then spends ~1 us per vector, not ~40, and measures the service rather
 * than itself.
 */
export interface StreamAckMessage {
  sequence: bigint;
  createdCount: number;
  updatedCount: number;
  unchangedCount: number;
}

export interface BytesInput {
  id: string;
  catalogId: string;
  kind: string;
  content: string;
  schemaName?: string;
  tableName?: string;
  vector: Uint8Array;
}

export interface BytesEmbeddingClient {
  streamUpsertEmbeddings(
    requests: AsyncIterable<{ sequence: bigint; embeddings: BytesInput[] }>,
  ): AsyncIterable<StreamAckMessage>;
  batchUpsertEmbeddings(request: { embeddings: BytesInput[] }): Promise<{ results: { id: string; outcome: number }[] }>;
}

export function bytesEmbeddingService(): DescService {
  const registry = shadowRegistry(
    file_dq_embeddings_v1_embedding_service,
    (file) => file.proto.package === "dq.embeddings.v1",
    (proto) => {
      const vector = proto.messageType.find((m) => m.name === "EmbeddingInput")?.field.find((f) => f.number === 8);
      if (vector !== undefined) {
        vector.type = FieldDescriptorProto_Type.BYTES;
        vector.label = FieldDescriptorProto_Label.OPTIONAL;
        vector.options = undefined;
      }
    },
  );
  const service = registry.getService("dq.embeddings.v1.EmbeddingService");
  if (service === undefined) throw new Error("EmbeddingService missing");
  return service;
}

export function createBytesEmbeddingClient(transport: Transport): BytesEmbeddingClient {
  return createClient(bytesEmbeddingService(), transport) as unknown as BytesEmbeddingClient;
}
