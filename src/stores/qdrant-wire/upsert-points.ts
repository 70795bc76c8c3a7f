import {
  create,
  type DescMessage,
  type DescMethodUnary,
  type Message,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { encodePointsField, type PointInit } from "./encode-points.js";
import { shadowPoints, UPSERT_POINTS_FIELD } from "./shadow-points.js";

/**
 * `Points.Upsert` with dense vectors as bytes: the points are encoded by `encodePointsField` (each
 * vector's float32 bytes copied once into one exact-size buffer) and ride in a shadow UpsertPoints
 * (shadow-points.ts) as an unknown field, instead of becoming 3072 JS numbers that protobuf-es writes
 * one by one and then moves again for every enclosing message.
 */
export interface ShadowUpsertPointsInit {
  collectionName: string;
  wait?: boolean;
  /** As `toPointStruct(point, float32Bytes)` builds them. */
  points: readonly PointInit[];
}

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

export function createQdrantWireUpsert(options: QdrantWireUpsertOptions): QdrantWireUpsert {
  const { upsert: method } = shadowPoints();
  if (method.methodKind !== "unary") {
    throw new Error("qdrant.Points/Upsert is not unary");
  }
  const unary = method as DescMethodUnary;
  const transport = options.transport ?? createQdrantTransport(options);
  return {
    async upsert(request, callOptions) {
      await transport.unary(unary, callOptions?.signal, options.timeoutMs, undefined, upsertPointsMessage(request));
    },
  };
}

/** The shadow UpsertPoints message for a request: its points ride as unknown field 3. */
export function upsertPointsMessage(request: ShadowUpsertPointsInit): Message {
  const { points, ...fields } = request;
  const message = create(shadowPoints().upsertPoints, fields as MessageInitShape<DescMessage>);
  // Written after the declared fields (collection_name = 1, wait = 2), where field 3 belongs.
  message.$unknown =
    points.length === 0
      ? []
      : [
          {
            no: UPSERT_POINTS_FIELD,
            wireType: WireType.LengthDelimited,
            data: encodePointsField(UPSERT_POINTS_FIELD, points),
          },
        ];
  return message;
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
