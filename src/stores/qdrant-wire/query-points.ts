import { create, type DescMessage, type DescService, type Message, type MessageInitShape } from "@bufbuild/protobuf";
import { type CallOptions, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  file_qdrant,
  type QueryBatchPointsSchema,
  type QueryBatchResponse,
  type QueryPointsSchema,
  type QueryResponse,
} from "@qdrant/js-client-grpc";
import { wireHeaders } from "./headers.js";
import { packedFloatsField, type UnknownField } from "../../wire/float-field.js";
import { fileClosure, shadowRegistry } from "../../wire/shadow-registry.js";

/**
 * `Points.Query` and `Points.QueryBatch` with the dense query vector sent as its float32 bytes. The
 * requests are written by protobuf-es from a shadow copy of Qdrant's points.proto in which
 * `DenseVector.data` (`repeated float`, field 1) is undeclared, so the vector travels as an unknown
 * field holding the packed floats: the bytes `toBinary` of the real message writes, without turning
 * 3072 floats into a JS number[] (`Array.from`) and writing them one by one, ~0.4 ms of CPU and 24 KiB
 * of garbage per query through the real client. Everything else (filters, payload selectors, sparse
 * vectors, the responses) is the real messages' shape. The call is connect's, on an HTTP/2 connection
 * of its own, with the caller's signal and the configured timeout.
 */
export interface QdrantWireQuery {
  query(request: WireQueryPoints, options?: { signal?: AbortSignal }): Promise<QueryResponse>;
  queryBatch(request: WireQueryBatch, options?: { signal?: AbortSignal }): Promise<QueryBatchResponse>;
}

/** A QueryPoints whose query is `nearest` one vector: a dense one as floats, or a sparse one. */
export type WireQueryPoints = Omit<MessageInitShape<typeof QueryPointsSchema>, "query" | "$typeName"> & {
  nearest: WireNearest;
};

export type WireNearest =
  { dense: Float32Array } | { sparse: { indices: ArrayLike<number>; values: ArrayLike<number> } };

export type WireQueryBatch = Omit<MessageInitShape<typeof QueryBatchPointsSchema>, "queryPoints" | "$typeName"> & {
  queryPoints: WireQueryPoints[];
};

/**
 * The same query as the real client takes it, the vector as JS numbers: for a store without the bytes
 * path, and the reference the bytes path is tested against.
 */
export function toClientQuery({ nearest, ...rest }: WireQueryPoints) {
  const variant =
    "dense" in nearest
      ? { case: "dense" as const, value: { data: Array.from(nearest.dense) } }
      : {
          case: "sparse" as const,
          value: { indices: Array.from(nearest.sparse.indices), values: Array.from(nearest.sparse.values) },
        };
  return { ...rest, query: { variant: { case: "nearest" as const, value: { variant } } } };
}

/** What the real client is given (src/backends/qdrant.ts): the same server, key and timeout. */
export interface QdrantWireQueryOptions {
  host: string;
  port: number;
  https?: boolean;
  apiKey?: string;
  timeoutMs: number;
}

/** `DenseVector.data`: `repeated float data = 1`. */
const DENSE_DATA_FIELD = 1;

export function createQdrantWireQuery(options: QdrantWireQueryOptions): QdrantWireQuery {
  const shadow = shadowQuerySchemas();
  const interceptors = [wireHeaders("dq-embeddings (qdrant wire query)", options.apiKey)];
  const transport = createGrpcTransport({
    baseUrl: `${options.https ? "https" : "http"}://${options.host}:${options.port}`,
    interceptors,
    defaultTimeoutMs: options.timeoutMs,
    // Responses are a few KiB of ids, scores and payload keys: not worth compressing either way.
    sendCompression: undefined,
    acceptCompression: [],
  });
  // The shadow service has the real one's methods and message shapes (only DenseVector differs), so
  // its responses are the real QueryResponse and QueryBatchResponse.
  const points = createClient(shadow.points, transport) as unknown as ShadowPointsClient;

  return {
    query(request, callOptions) {
      return points.query(shadowQueryPoints(request), { signal: callOptions?.signal });
    },
    queryBatch(request, callOptions) {
      return points.queryBatch(shadowQueryBatch(request), { signal: callOptions?.signal });
    },
  };
}

/** The request as a message of the shadow `qdrant.QueryPoints` (its `toBinary` is what is sent). */
export function shadowQueryPoints({ nearest, ...rest }: WireQueryPoints): Message {
  const shadow = shadowQuerySchemas();
  return create(shadow.queryPoints, {
    ...rest,
    query: { variant: { case: "nearest", value: { variant: nearestVariant(shadow.denseVector, nearest) } } },
  });
}

/** The request as a message of the shadow `qdrant.QueryBatchPoints`. */
export function shadowQueryBatch({ queryPoints, ...rest }: WireQueryBatch): Message {
  return create(shadowQuerySchemas().queryBatchPoints, {
    ...rest,
    queryPoints: queryPoints.map(shadowQueryPoints),
  });
}

function nearestVariant(denseVector: DescMessage, nearest: WireNearest) {
  if ("dense" in nearest) {
    // create() drops an `$unknown` given in its init object: set afterwards, it is written as is.
    const dense = create(denseVector) as { $unknown?: UnknownField[] };
    dense.$unknown = [packedFloatsField(DENSE_DATA_FIELD, nearest.dense)];
    return { case: "dense" as const, value: dense };
  }
  return {
    case: "sparse" as const,
    value: { indices: Array.from(nearest.sparse.indices), values: Array.from(nearest.sparse.values) },
  };
}

interface ShadowPointsClient {
  query(request: Message, options: CallOptions): Promise<QueryResponse>;
  queryBatch(request: Message, options: CallOptions): Promise<QueryBatchResponse>;
}

interface ShadowQuerySchemas {
  points: DescService;
  queryPoints: DescMessage;
  queryBatchPoints: DescMessage;
  denseVector: DescMessage;
}

let built: ShadowQuerySchemas | undefined; // immutable descriptors, built once like generated ones

/** Qdrant's Points service over a points.proto whose DenseVector has no declared `data`. */
export function shadowQuerySchemas(): ShadowQuerySchemas {
  if (built !== undefined) return built;
  const files = fileClosure(file_qdrant);
  const service = files.get("points_service.proto");
  if (service === undefined) throw new Error("@qdrant/js-client-grpc no longer ships points_service.proto");
  const registry = shadowRegistry(
    service,
    (file) => file.proto.name === "points.proto",
    (proto) => {
      const dense = proto.messageType.find((message) => message.name === "DenseVector");
      if (dense === undefined || !dense.field.some((f) => f.number === DENSE_DATA_FIELD && f.name === "data")) {
        throw new Error("@qdrant/js-client-grpc: qdrant.DenseVector no longer has `data = 1`; update qdrant-wire");
      }
      dense.field = dense.field.filter((f) => f.number !== DENSE_DATA_FIELD);
    },
  );
  const message = (typeName: string): DescMessage => {
    const found = registry.getMessage(typeName);
    if (found === undefined) throw new Error(`shadow points.proto lacks ${typeName}`);
    return found;
  };
  const points = registry.getService("qdrant.Points");
  if (points === undefined) throw new Error("shadow points_service.proto lacks qdrant.Points");
  built = {
    points,
    queryPoints: message("qdrant.QueryPoints"),
    queryBatchPoints: message("qdrant.QueryBatchPoints"),
    denseVector: message("qdrant.DenseVector"),
  };
  return built;
}
