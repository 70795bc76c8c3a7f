import { create, type DescMethodUnary, type MessageInitShape } from "@bufbuild/protobuf";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { toLittleEndian } from "../../server/wire/float-field.js";
import { shadowPoints } from "./shadow-points.js";

/**
 * `Points.Upsert` with dense vectors as bytes: the request is built from the shadow schema
 * (shadow-points.ts), so each vector's float32 bytes are copied once, straight into the message,
 * instead of becoming 3072 JS numbers that protobuf-es writes one by one.
 */
export type ShadowUpsertPointsInit = Record<string, unknown>;

export interface QdrantWireUpsert {
  /** Sends one UpsertPoints request (dense `data` as the vector's little-endian bytes). */
  upsert(request: ShadowUpsertPointsInit, options?: { signal?: AbortSignal }): Promise<void>;
}

/** What the real client is given (src/backends/qdrant.ts): the same server, key and timeout. */
export interface QdrantWireUpsertOptions {
  host: string;
  port: number;
  https?: boolean;
  apiKey?: string;
  timeoutMs: number;
  /** For tests: send through this transport instead of a new gRPC one. */
  transport?: Transport;
}

/** The little-endian float32 bytes a shadow `DenseVector.data` holds: a view, no copy. */
export function denseBytes(vector: Float32Array): Uint8Array {
  return toLittleEndian(vector);
}

export function createQdrantWireUpsert(options: QdrantWireUpsertOptions): QdrantWireUpsert {
  const { upsert: method, upsertPoints } = shadowPoints();
  if (method.methodKind !== "unary") {
    throw new Error("qdrant.Points/Upsert is not unary");
  }
  const unary = method as DescMethodUnary;
  const transport = options.transport ?? createQdrantTransport(options);
  return {
    async upsert(request, callOptions) {
      // create() here, not in the transport: the request holds views of vectors, copied once by toBinary.
      const message = create(upsertPoints, request as MessageInitShape<typeof upsertPoints>);
      await transport.unary(unary, callOptions?.signal, options.timeoutMs, undefined, message);
    },
  };
}

/** A gRPC transport like the real client's: binary, compression off (gzip costs ~230 us a vector). */
function createQdrantTransport(options: QdrantWireUpsertOptions): Transport {
  const interceptors: Interceptor[] = [
    (next) => (req) => {
      req.header.set("user-agent", "dq-embeddings (qdrant wire upsert)");
      if (options.apiKey !== undefined) {
        req.header.set("api-key", options.apiKey);
      }
      return next(req);
    },
  ];
  return createGrpcTransport({
    baseUrl: `${options.https ? "https" : "http"}://${options.host}:${options.port}`,
    useBinaryFormat: true,
    interceptors,
  });
}
