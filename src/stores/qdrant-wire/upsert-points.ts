import { create, type DescMethodUnary, type DescService, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import {
  createAsyncIterable,
  createMethodUrl,
  pipeTo,
  runUnaryCall,
  sinkAll,
  transformSplitEnvelope,
  type UniversalClientFn,
} from "@connectrpc/connect/protocol";
import { requestHeader, validateResponse, validateTrailer } from "@connectrpc/connect/protocol-grpc";
import { createNodeHttpClient, Http2SessionManager } from "@connectrpc/connect-node";
import {
  file_qdrant,
  type PointsOperationResponseSchema as ResponseSchema,
  PointsOperationResponseSchema,
  type UpsertPointsSchema as RequestSchema,
  UpsertPointsSchema,
} from "@qdrant/js-client-grpc";
import { fileClosure } from "../../wire/shadow-registry.js";
import { runSteps } from "../../core/slices.js";
import { encodeUpsertSteps, type UpsertRequest, type VectorNames } from "./encode-points.js";
import { wireHeaders } from "./headers.js";

/**
 * `Points.Upsert` with the request body written by `encodeUpsertRequest` (encode-points.ts): the
 * envelope and message in one buffer, each dense vector copied once, sent as is. The call itself is
 * connect's: its HTTP/2 session manager and client, gRPC headers, deadline, cancel, interceptors, and
 * its checks of the response status and trailers; only serialization is ours. (Through a connect
 * Transport the message would be re-serialized by `toBinary` and copied into an envelope: three more
 * copies of every vector, 6 MiB each per 512-vector batch.)
 */
export interface QdrantWireUpsert {
  /** Sends one UpsertPoints request; resolves when Qdrant answers OK. */
  upsert(request: UpsertRequest, options?: { signal?: AbortSignal }): Promise<void>;
}

/** What the real client is given (src/backends/qdrant.ts): the same server, key and timeout. */
export interface QdrantWireUpsertOptions {
  host: string;
  port: number;
  https?: boolean;
  apiKey?: string;
  timeoutMs: number;
  /** The collection's vector names (the store's DENSE_VECTOR and SPARSE_VECTOR). */
  vectorNames: VectorNames;
  /** For tests: send through this HTTP client instead of a new HTTP/2 connection. */
  httpClient?: UniversalClientFn;
}

/** Spare request bodies kept: as many as upserts usually run at once on one store. */
const MAX_SPARE_BODIES = 2;

/** A new request buffer's size relative to the request that needs it. */
const HEADROOM = 1.25;

/** A PointsOperationResponse is a few dozen bytes; anything near this is not one. */
const READ_MAX_BYTES = 1 << 20;

export function createQdrantWireUpsert(options: QdrantWireUpsertOptions): QdrantWireUpsert {
  const method = upsertMethod();
  const baseUrl = `${options.https ? "https" : "http"}://${options.host}:${options.port}`;
  const url = createMethodUrl(baseUrl, method);
  // One HTTP/2 connection of its own (the manager connects on first use), as a connect transport has.
  const sessionManager = new Http2SessionManager(baseUrl);
  const httpClient =
    options.httpClient ?? createNodeHttpClient({ httpVersion: "2", sessionProvider: () => sessionManager });
  const interceptors = [wireHeaders("dq-embeddings (qdrant wire upsert)", options.apiKey)];

  // Request bodies whose call succeeded, so their bytes were all sent: reused by the next calls, each
  // grown to the largest request seen (bounded by the store batch: 512 x 12 KiB, 6 MiB, by default).
  // A failed call's body is dropped, never reused while HTTP/2 might still read it.
  const spare: Uint8Array[] = [];
  return {
    async upsert(request, callOptions) {
      // The largest spare; a new buffer gets a quarter more than this request needs, so the next
      // batch, a few bytes longer, still fits.
      spare.sort((a, b) => a.length - b.length);
      const reuse = spare.pop();
      // In slices: a large batch does not hold the event loop while it is written.
      const body = await runSteps(encodeUpsertSteps(request, options.vectorNames, reuse, HEADROOM));
      await runUnaryCall<typeof RequestSchema, typeof ResponseSchema>({
        interceptors,
        signal: callOptions?.signal,
        timeoutMs: options.timeoutMs,
        req: {
          stream: false,
          service: method.parent,
          method,
          requestMethod: "POST",
          url,
          header: requestHeader(true, options.timeoutMs, undefined),
          contextValues: createContextValues(),
          // What interceptors see; the points travel in `body` only.
          message: create(UpsertPointsSchema, { collectionName: request.collectionName, wait: request.wait }),
        },
        next: async (req) => {
          const response = await httpClient({
            url: req.url,
            method: "POST",
            header: req.header,
            signal: req.signal,
            body: createAsyncIterable([body]),
          });
          const { headerError } = validateResponse(response.status, response.header);
          const envelopes = await pipeTo(response.body, transformSplitEnvelope(READ_MAX_BYTES), sinkAll(), {
            propagateDownStreamError: false,
          });
          validateTrailer(response.trailer, response.header);
          if (headerError !== undefined) {
            throw headerError;
          }
          if (envelopes.length !== 1 || envelopes[0].flags !== 0) {
            throw new ConnectError(
              `protocol error: expected one uncompressed response message, got ${envelopes.length}`,
              Code.Unknown,
            );
          }
          return {
            stream: false,
            service: method.parent,
            method,
            header: response.header,
            message: fromBinary(PointsOperationResponseSchema, envelopes[0].data),
            trailer: response.trailer,
          };
        },
      });
      if (spare.length < MAX_SPARE_BODIES) {
        spare.push(body.buffer === reuse?.buffer ? reuse : new Uint8Array(body.buffer));
      }
    },
  };
}

let upsert: DescMethodUnary<typeof RequestSchema, typeof ResponseSchema> | undefined;

/** `qdrant.Points/Upsert` from the client package's public descriptors. */
function upsertMethod(): DescMethodUnary<typeof RequestSchema, typeof ResponseSchema> {
  if (upsert !== undefined) {
    return upsert;
  }
  let service: DescService | undefined;
  for (const file of fileClosure(file_qdrant).values()) {
    service ??= file.services.find((s) => s.typeName === "qdrant.Points");
  }
  const method = service?.methods.find((m) => m.name === "Upsert");
  if (method === undefined || method.methodKind !== "unary") {
    throw new Error("@qdrant/js-client-grpc: qdrant.Points/Upsert is missing from the client's descriptors");
  }
  upsert = method as DescMethodUnary<typeof RequestSchema, typeof ResponseSchema>;
  return upsert;
}
