import pRetry from "p-retry";
import { ConnectError, ConnectErrorCode as Code, type QdrantClient } from "@qdrant/js-client-grpc";
import type { Logger } from "pino";
import { FailedPreconditionError, InternalError, InvalidArgumentError, UnavailableError } from "../core/errors.js";
import { EMBEDDING_STATUSES, type EmbeddingStatus, type PointPayload } from "../core/types.js";
import {
  toClientQuery,
  type QdrantWireQuery,
  type WireNearest,
  type WireQueryPoints,
} from "./qdrant-wire/query-points.js";
import type { QdrantWireUpsert } from "./qdrant-wire/upsert-points.js";
import { fuseRrf } from "./rrf-fusion.js";
import type {
  HitPayload,
  HybridHits,
  HybridSearch,
  StoredPoint,
  VectorFilter,
  VectorHit,
  VectorPoint,
  VectorSearch,
  VectorStore,
} from "./vector-store.js";

/** Names of the collection's vectors: one dense (the embedder's), one sparse (lexical, IDF in Qdrant). */
export const DENSE_VECTOR = "dense";
export const SPARSE_VECTOR = "sparse";

/** Payload keys with keyword indexes; `catalog_id` is the tenant key. */
const KEYWORD_INDEXES = ["catalog_id", "kind", "schema", "table", "status"] as const;

export interface QdrantVectorStoreOptions {
  client: QdrantClient;
  collectionName: string;
  dimensions: number;
  /** Recorded in the collection's metadata; a collection built by another model refuses to start. */
  model: string;
  shardNumber?: number;
  replicationFactor?: number;
  writeConsistencyFactor?: number;
  logger: Logger;
  /** Sends upserts with vectors as bytes (qdrant-wire/upsert-points.ts); without it the client's own Upsert. */
  wireUpsert?: QdrantWireUpsert;
  /** Sends searches with the query vector as bytes (qdrant-wire/query-points.ts); without it the client's own Query. */
  wireQuery?: QdrantWireQuery;
}

type Value = { kind: { case: "stringValue"; value: string } | { case: "nullValue"; value: 0 } };

export function createQdrantVectorStore(options: QdrantVectorStoreOptions): VectorStore {
  const { client, collectionName, dimensions, model, logger, wireUpsert, wireQuery } = options;
  const points = () => client.api("points");
  const collections = () => client.api("collections");

  /** Points.Query / QueryBatch: through the bytes path when there is one, else the client's own. */
  function query(request: WireQueryPoints, signal?: AbortSignal) {
    if (wireQuery !== undefined) {
      return wireQuery.query(request, { signal });
    }
    return points().query(toClientQuery(request), { signal });
  }
  function queryBatch(queries: WireQueryPoints[], signal?: AbortSignal) {
    if (wireQuery !== undefined) {
      return wireQuery.queryBatch({ collectionName, queryPoints: queries }, { signal });
    }
    return points().queryBatch({ collectionName, queryPoints: queries.map(toClientQuery) }, { signal });
  }

  /**
   * One Qdrant request; a transport failure (connection refused, reset or cut; Qdrant busy) is tried
   * again twice within ~100 ms before it reaches the caller: a connection attempt that began while Qdrant was
   * restarting fails even though Qdrant is back, and every request here is idempotent (points are
   * written and deleted by id, payloads set to given values).
   */
  async function call<T>(operation: string, run: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await pRetry(run, {
        retries: 2,
        minTimeout: 20,
        maxTimeout: 80,
        // connect-node reports a refused connection as UNAVAILABLE, a reset one as ABORTED, and a
        // connection cut under the request as CANCELED (unless the caller's own signal cancelled it).
        shouldRetry: ({ error }) =>
          error instanceof ConnectError &&
          (error.code === Code.Unavailable ||
            error.code === Code.Aborted ||
            (error.code === Code.Canceled && signal?.aborted !== true)),
      });
    } catch (error) {
      throw convertError(error, operation, collectionName);
    }
  }

  async function createCollection(): Promise<void> {
    await collections().create({
      collectionName,
      vectorsConfig: {
        config: {
          case: "paramsMap",
          value: { map: { [DENSE_VECTOR]: { size: BigInt(dimensions), distance: 1 /* Cosine */ } } },
        },
      },
      sparseVectorsConfig: { map: { [SPARSE_VECTOR]: { modifier: 1 /* Idf */ } } },
      shardNumber: options.shardNumber,
      replicationFactor: options.replicationFactor,
      writeConsistencyFactor: options.writeConsistencyFactor,
      metadata: { embedding_model: stringValue(model), embedding_dimensions: stringValue(String(dimensions)) },
    });
    for (const field of KEYWORD_INDEXES) {
      await points().createFieldIndex({
        collectionName,
        fieldName: field,
        fieldType: 0 /* Keyword */,
        wait: true,
        // The tenant key: Qdrant co-locates each catalog's points and plans filtered search by it.
        fieldIndexParams:
          field === "catalog_id"
            ? { indexParams: { case: "keywordIndexParams", value: { isTenant: true } } }
            : undefined,
      });
    }
    logger.info({ collection: collectionName, dimensions, model }, "created Qdrant collection");
  }

  async function checkCollection(): Promise<void> {
    const info = await collections().get({ collectionName });
    const params = info.result?.config?.params?.vectorsConfig?.config;
    const dense = params?.case === "paramsMap" ? params.value.map[DENSE_VECTOR] : undefined;
    if (dense === undefined) {
      throw new FailedPreconditionError(
        `Qdrant collection "${collectionName}" has no dense vector named "${DENSE_VECTOR}": it was not created by this service; set QDRANT_COLLECTION_NAME to another name`,
      );
    }
    if (Number(dense.size) !== dimensions) {
      throw new FailedPreconditionError(
        `Qdrant collection "${collectionName}" holds ${dense.size}-dimensional vectors but EMBEDDING_DIMENSIONS is ${dimensions}: use another QDRANT_COLLECTION_NAME or the matching dimension`,
      );
    }
    const stored = info.result?.config?.metadata?.embedding_model?.kind;
    if (stored?.case === "stringValue" && stored.value !== model) {
      throw new FailedPreconditionError(
        `Qdrant collection "${collectionName}" was built with embedding model "${stored.value}" but the service uses "${model}": use another QDRANT_COLLECTION_NAME or the same model`,
      );
    }
  }

  return {
    async start() {
      await call("check collection", async () => {
        const exists = await collections().collectionExists({ collectionName });
        if (exists.result?.exists) {
          await checkCollection();
        } else {
          await createCollection();
        }
      });
    },

    async upsert(batch, callOptions) {
      if (batch.length === 0) {
        return;
      }
      if (wireUpsert !== undefined) {
        // Vectors go out as their bytes (qdrant-wire/), never as JS numbers.
        const request = { collectionName, wait: true, points: batch };
        await call("upsert", () => wireUpsert.upsert(request, { signal: callOptions?.signal }), callOptions?.signal);
        return;
      }
      await call(
        "upsert",
        () =>
          points().upsert(
            { collectionName, wait: true, points: batch.map((point) => toPointStruct(point)) },
            { signal: callOptions?.signal },
          ),
        callOptions?.signal,
      );
    },

    async delete(ids, callOptions) {
      if (ids.length === 0) {
        return;
      }
      await call(
        "delete",
        () =>
          points().delete(
            {
              collectionName,
              wait: true,
              points: { pointsSelectorOneOf: { case: "points", value: { ids: ids.map(pointId) } } },
            },
            { signal: callOptions?.signal },
          ),
        callOptions?.signal,
      );
    },

    async deleteCatalog(catalogId, deleteOptions) {
      const must = [keywordCondition("catalog_id", catalogId)];
      if (deleteOptions?.status !== undefined) {
        must.push(keywordCondition("status", deleteOptions.status));
      }
      await call("delete catalog", () =>
        points().delete({
          collectionName,
          wait: true,
          points: { pointsSelectorOneOf: { case: "filter", value: { must } } },
        }),
      );
    },

    async get(ids, callOptions) {
      if (ids.length === 0) {
        return [];
      }
      const response = await call(
        "get",
        () =>
          points().get(
            {
              collectionName,
              ids: ids.map(pointId),
              withPayload: { selectorOptions: { case: "enable", value: true } },
              withVectors: callOptions?.withVector
                ? { selectorOptions: { case: "include", value: { names: [DENSE_VECTOR] } } }
                : { selectorOptions: { case: "enable", value: false } },
            },
            { signal: callOptions?.signal },
          ),
        callOptions?.signal,
      );
      return response.result.map((point) => toStoredPoint(point));
    },

    async search(search: VectorSearch): Promise<VectorHit[]> {
      const response = await call(
        "search",
        () =>
          query(
            {
              collectionName,
              using: DENSE_VECTOR,
              nearest: { dense: search.vector },
              filter: toFilter(search.filter),
              limit: BigInt(search.limit),
              offset: BigInt(search.offset ?? 0),
              scoreThreshold: search.scoreThreshold,
              withPayload: { selectorOptions: { case: "enable", value: false } },
            },
            search.signal,
          ),
        search.signal,
      );
      return response.result.map((hit) => ({ id: idOf(hit.id), score: hit.score }));
    },

    async searchHybrid(search: HybridSearch): Promise<HybridHits> {
      const filter = toFilter(search.filter);
      const branch = (using: string, nearest: WireNearest, scoreThreshold?: number): WireQueryPoints => ({
        collectionName,
        using,
        nearest,
        filter,
        limit: BigInt(search.candidates),
        scoreThreshold,
        withPayload: { selectorOptions: { case: "include" as const, value: { fields: [...HIT_PAYLOAD] } } },
      });
      // Both candidate lists in one QueryBatch, fused here with stable ties (rrf-fusion.ts).
      const response = await call(
        "search",
        () =>
          queryBatch(
            [
              branch(DENSE_VECTOR, { dense: search.vector }, search.denseThreshold),
              branch(SPARSE_VECTOR, { sparse: search.sparse }),
            ],
            search.signal,
          ),
        search.signal,
      );
      const [dense = [], lexical = []] = response.result.map((list) =>
        list.result.map((hit) => ({ id: idOf(hit.id), score: hit.score, payload: hitPayload(hit.payload) })),
      );
      return {
        hits: fuseRrf([dense, lexical]).slice(0, search.limit),
        bestDense: dense.length === 0 ? undefined : Math.max(...dense.map((hit) => hit.score)),
      };
    },

    async setStatus(ids, status) {
      if (ids.length === 0) {
        return;
      }
      // Selected by a has_id filter, not by listing the ids: a listed id without a point (a row whose
      // point is missing, which reconcile reports) makes Qdrant refuse the whole request as NOT_FOUND.
      const hasIds = { conditionOneOf: { case: "hasId" as const, value: { hasId: ids.map(pointId) } } };
      await call("set status", () =>
        points().setPayload({
          collectionName,
          wait: true,
          payload: { status: stringValue(status) },
          pointsSelector: { pointsSelectorOneOf: { case: "filter", value: { must: [hasIds] } } },
        }),
      );
    },

    async scroll({ catalogId, afterId, limit }) {
      const response = await call("scroll", () =>
        points().scroll({
          collectionName,
          filter: catalogId === undefined ? undefined : { must: [keywordCondition("catalog_id", catalogId)] },
          offset: afterId === undefined ? undefined : pointId(afterId),
          limit,
          withPayload: { selectorOptions: { case: "enable", value: true } },
          withVectors: { selectorOptions: { case: "enable", value: false } },
        }),
      );
      const next = response.nextPageOffset;
      return {
        points: response.result.map((point) => toStoredPoint(point)),
        nextId: next === undefined ? undefined : idOf(next),
      };
    },

    async ping() {
      await call("health check", () => client.api("service").healthCheck({}));
    },
  };
}

/** The payload keys a hybrid search brings back (HitPayload): the rest is not read. */
const HIT_PAYLOAD = ["kind", "schema", "table", "content_hash"] as const;

function hitPayload(payload: Record<string, PayloadValue>): HitPayload {
  const text = (key: string): string | null => {
    const kind = payload[key]?.kind;
    return kind?.case === "stringValue" ? String(kind.value) : null;
  };
  return {
    kind: text("kind") ?? "",
    schema: text("schema"),
    table: text("table"),
    content_hash: text("content_hash") ?? "",
  };
}

function stringValue(value: string): Value {
  return { kind: { case: "stringValue", value } };
}

function optionalString(value: string | null): Value {
  return value === null ? { kind: { case: "nullValue", value: 0 } } : stringValue(value);
}

function pointId(id: string) {
  return { pointIdOptions: { case: "uuid" as const, value: id } };
}

function idOf(
  id:
    | {
        pointIdOptions:
          { case: "uuid"; value: string } | { case: "num"; value: bigint } | { case: undefined; value?: undefined };
      }
    | undefined,
): string {
  const options = id?.pointIdOptions;
  if (options?.case === "uuid") {
    return options.value;
  }
  // Our points always have UUID ids; a numeric id means someone else wrote into the collection.
  return options?.case === "num" ? options.value.toString() : "";
}

function keywordCondition(key: string, value: string) {
  return {
    conditionOneOf: {
      case: "field" as const,
      value: { key, match: { matchValue: { case: "keyword" as const, value } } },
    },
  };
}

function keywordsCondition(key: string, values: readonly string[]) {
  return {
    conditionOneOf: {
      case: "field" as const,
      value: { key, match: { matchValue: { case: "keywords" as const, value: { strings: [...values] } } } },
    },
  };
}

type Condition = ReturnType<typeof keywordCondition> | ReturnType<typeof keywordsCondition>;

/** Translates our filter to Qdrant's; every filter carries the catalog, so no read crosses tenants. */
export function toFilter(filter: VectorFilter) {
  const must: Condition[] = [keywordCondition("catalog_id", filter.catalogId)];
  const mustNot: Condition[] = [];
  if (filter.kinds !== undefined && filter.kinds.length > 0) {
    must.push(keywordsCondition("kind", filter.kinds));
  }
  if (filter.schemaName !== undefined) {
    must.push(keywordCondition("schema", filter.schemaName));
  }
  if (filter.tableName !== undefined) {
    must.push(keywordCondition("table", filter.tableName));
  }
  if (filter.statuses !== undefined && filter.statuses.length > 0) {
    must.push(keywordsCondition("status", filter.statuses));
  } else {
    mustNot.push(keywordCondition("status", "rejected"));
  }
  return { must, mustNot, should: [] };
}

/**
 * A point as the init of Qdrant's PointStruct, for the real client. The wire path
 * (qdrant-wire/encode-points.ts) writes the same bytes without building it.
 */
export function toPointStruct(point: VectorPoint) {
  const vectors: Record<
    string,
    {
      vector:
        | { case: "dense"; value: { data: number[] } }
        | { case: "sparse"; value: { indices: number[]; values: number[] } };
    }
  > = {
    [DENSE_VECTOR]: { vector: { case: "dense", value: { data: Array.from(point.vector) } } },
  };
  if (point.sparse !== undefined && point.sparse.indices.length > 0) {
    vectors[SPARSE_VECTOR] = {
      vector: {
        case: "sparse",
        value: { indices: Array.from(point.sparse.indices), values: Array.from(point.sparse.values) },
      },
    };
  }
  const payload = point.payload;
  return {
    id: pointId(point.id),
    vectors: { vectorsOptions: { case: "vectors" as const, value: { vectors } } },
    payload: {
      catalog_id: stringValue(payload.catalog_id),
      kind: stringValue(payload.kind),
      schema: optionalString(payload.schema),
      table: optionalString(payload.table),
      status: stringValue(payload.status),
      content_hash: stringValue(payload.content_hash),
      model: stringValue(payload.model),
    },
  };
}

type PayloadValue = { kind: { case: string | undefined; value?: unknown } };

function toStoredPoint(point: {
  id?: Parameters<typeof idOf>[0];
  payload: Record<string, PayloadValue>;
  vectors?: { vectorsOptions: { case: string | undefined; value?: unknown } };
}): StoredPoint {
  const text = (key: string): string | null => {
    const kind = point.payload[key]?.kind;
    return kind?.case === "stringValue" ? String(kind.value) : null;
  };
  const status = text("status");
  const stored: StoredPoint = {
    id: idOf(point.id),
    payload: {
      catalog_id: text("catalog_id") ?? "",
      kind: text("kind") ?? "",
      schema: text("schema"),
      table: text("table"),
      status: EMBEDDING_STATUSES.includes(status as EmbeddingStatus) ? (status as EmbeddingStatus) : "pending",
      content_hash: text("content_hash") ?? "",
      model: text("model") ?? "",
    } satisfies PointPayload,
  };
  const options = point.vectors?.vectorsOptions;
  if (options?.case === "vectors") {
    const named = (
      options.value as {
        vectors: Record<string, { data: number[]; vector: { case: string | undefined; value?: unknown } }>;
      }
    ).vectors[DENSE_VECTOR];
    if (named !== undefined) {
      const data = named.vector.case === "dense" ? (named.vector.value as { data: number[] }).data : named.data;
      stored.vector = Float32Array.from(data);
    }
  }
  return stored;
}

function convertError(error: unknown, operation: string, collectionName: string): Error {
  if (error instanceof FailedPreconditionError || error instanceof UnavailableError) {
    return error;
  }
  if (error instanceof ConnectError) {
    switch (error.code) {
      case Code.Unavailable:
      case Code.DeadlineExceeded:
      case Code.ResourceExhausted:
      case Code.Aborted:
      case Code.Unknown:
      case Code.Internal:
        return new UnavailableError("qdrant", `${operation} failed (${Code[error.code]}); retry later`, {
          cause: error,
        });
      case Code.Canceled:
        return new UnavailableError("qdrant", `${operation} was cancelled`, { cause: error });
      case Code.NotFound:
        return new FailedPreconditionError(
          `Qdrant collection "${collectionName}" is missing: restart the service to create it`,
          { cause: error },
        );
      case Code.Unauthenticated:
      case Code.PermissionDenied:
        return new FailedPreconditionError("Qdrant refused the API key: check QDRANT_API_KEY", { cause: error });
      case Code.InvalidArgument:
        return new InvalidArgumentError("qdrant", `Qdrant rejected the ${operation} request: ${error.rawMessage}`);
      default:
        return new InternalError(`Qdrant ${operation} failed`, { cause: error });
    }
  }
  // Socket errors raised before any gRPC status (ECONNREFUSED, ECONNRESET...).
  if (error instanceof Error && /ECONN|EPIPE|socket|network|ETIMEDOUT|EHOSTUNREACH/i.test(error.message)) {
    return new UnavailableError("qdrant", `${operation} failed: cannot reach Qdrant`, { cause: error });
  }
  return new InternalError(`Qdrant ${operation} failed`, { cause: error });
}
