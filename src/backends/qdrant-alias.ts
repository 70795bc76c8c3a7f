import { ConnectError, ConnectErrorCode as Code, type QdrantClient } from "@qdrant/js-client-grpc";
import type { Logger } from "pino";
import { FailedPreconditionError, UnavailableError } from "../core/errors.js";
import { DENSE_VECTOR } from "../stores/qdrant-vector-store.js";
import type { VectorStore } from "../stores/vector-store.js";

/**
 * QDRANT_COLLECTION_NAME is an alias: the service reads and writes through it, and it points at a
 * collection named for the model and dimension that built it (`embeddings__text-embedding-3-large__3072`).
 * `npm run reembed` builds the next collection beside it and flips the alias in one Qdrant call.
 */

/** The collection a model and dimension build under an alias: `<alias>__<model>__<dimensions>`. */
export function modelCollectionName(alias: string, model: string, dimensions: number): string {
  return `${alias}__${model.replace(/[^A-Za-z0-9_-]+/g, "-")}__${dimensions}`;
}

/** What a name is in Qdrant: an alias (and its collection), a collection, or nothing. */
export type NameResolution = { kind: "alias"; collection: string } | { kind: "collection" } | { kind: "missing" };

export interface CollectionModel {
  /** `embedding_model` from the collection's metadata; undefined for a collection built before it was recorded. */
  model: string | undefined;
  dimensions: number | undefined;
  points: number;
}

export interface QdrantAliases {
  resolve(name: string): Promise<NameResolution>;
  /** Model, dimension and point count of a collection (or of an alias's collection). */
  describe(name: string): Promise<CollectionModel>;
  /** Points `alias` at `collection` in ONE UpdateAliases call (Qdrant applies its actions atomically). */
  point(alias: string, collection: string): Promise<void>;
  deleteCollection(name: string): Promise<void>;
}

export function createQdrantAliases(client: QdrantClient): QdrantAliases {
  const collections = () => client.api("collections");
  const call = async <T>(operation: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      if (
        error instanceof ConnectError &&
        (error.code === Code.Unauthenticated || error.code === Code.PermissionDenied)
      ) {
        throw new FailedPreconditionError("Qdrant refused the API key: check QDRANT_API_KEY", { cause: error });
      }
      if (error instanceof ConnectError && error.code === Code.NotFound) {
        throw new FailedPreconditionError(`Qdrant ${operation}: ${error.rawMessage}`, { cause: error });
      }
      throw new UnavailableError("qdrant", `${operation} failed: ${(error as Error).message}; retry later`, {
        cause: error,
      });
    }
  };
  return {
    async resolve(name) {
      const { aliases } = await call("list aliases", () => collections().listAliases({}));
      const alias = aliases.find((entry) => entry.aliasName === name);
      if (alias !== undefined) return { kind: "alias", collection: alias.collectionName };
      const exists = await call("collection exists", () => collections().collectionExists({ collectionName: name }));
      return exists.result?.exists ? { kind: "collection" } : { kind: "missing" };
    },
    async describe(name) {
      const info = await call(`get collection "${name}"`, () => collections().get({ collectionName: name }));
      const vectors = info.result?.config?.params?.vectorsConfig?.config;
      const dense = vectors?.case === "paramsMap" ? vectors.value.map[DENSE_VECTOR] : undefined;
      const model = info.result?.config?.metadata?.embedding_model?.kind;
      return {
        model: model?.case === "stringValue" ? model.value : undefined,
        dimensions: dense === undefined ? undefined : Number(dense.size),
        points: Number(info.result?.pointsCount ?? 0n),
      };
    },
    async point(alias, collection) {
      const { aliases } = await call("list aliases", () => collections().listAliases({}));
      const exists = aliases.some((entry) => entry.aliasName === alias);
      await call(`point alias "${alias}" at "${collection}"`, () =>
        collections().updateAliases({
          actions: [
            ...(exists ? [{ action: { case: "deleteAlias" as const, value: { aliasName: alias } } }] : []),
            { action: { case: "createAlias" as const, value: { aliasName: alias, collectionName: collection } } },
          ],
        }),
      );
    },
    async deleteCollection(name) {
      await call(`delete collection "${name}"`, () => collections().delete({ collectionName: name }));
    },
  };
}

export interface AliasBindingOptions {
  aliases: QdrantAliases;
  /** QDRANT_COLLECTION_NAME. */
  alias: string;
  model: string;
  dimensions: number;
  /** The store through the alias (what the service uses). */
  store: VectorStore;
  /** A store on a given collection name, same settings: creates the model's collection on a fresh install. */
  storeFor(collectionName: string): VectorStore;
  logger: Logger;
}

/**
 * The service's vector store, bound to its alias:
 * - start(): on a fresh Qdrant, creates `<alias>__<model>__<dimensions>` and points the alias at it;
 *   on an alias, refuses to start only when its collection was built by another model or dimension
 *   (and says how to switch); a plain collection of that name (an older install) is used as before.
 *   Then says loudly what it is bound to.
 * - ping() (readiness): also checks the alias still points at this model's collection, so a replica
 *   left on the old model after `npm run reembed` flipped the alias goes NOT_SERVING and refuses calls
 *   instead of mixing models.
 */
export function createAliasBoundVectorStore(options: AliasBindingOptions): VectorStore {
  const { aliases, alias, model, dimensions, store, logger } = options;
  let mismatch: FailedPreconditionError | undefined;

  const mismatchError = (collection: string, found: CollectionModel) =>
    new FailedPreconditionError(
      `Qdrant alias "${alias}" points at collection "${collection}", built with model "${found.model ?? "unknown"}" (${found.dimensions ?? "?"} dimensions), ` +
        `but the service is configured for model "${model}" (${dimensions} dimensions): start it with that model and dimension, ` +
        `or switch the alias with \`npm run reembed -- --model ${model} --dimensions ${dimensions}\``,
    );
  const matches = (found: CollectionModel) =>
    found.dimensions === dimensions && (found.model === undefined || found.model === model);

  const guard =
    <A extends unknown[], R>(run: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      if (mismatch !== undefined) return Promise.reject(mismatch);
      return run(...args);
    };

  return {
    async start() {
      const resolved = await aliases.resolve(alias);
      if (resolved.kind === "missing") {
        const collection = modelCollectionName(alias, model, dimensions);
        await options.storeFor(collection).start();
        await aliases.point(alias, collection);
        logger.info({ alias, collection, model, dimensions }, `created Qdrant alias "${alias}" -> "${collection}"`);
      } else if (resolved.kind === "alias") {
        const found = await aliases.describe(resolved.collection);
        if (!matches(found)) throw mismatchError(resolved.collection, found);
      } else {
        logger.warn(
          { collection: alias },
          `QDRANT_COLLECTION_NAME "${alias}" is a collection, not an alias: switching models later needs \`npm run reembed -- ... --replace-collection\` (a short outage while the collection becomes an alias)`,
        );
      }
      await store.start();
      const bound =
        resolved.kind === "alias"
          ? resolved.collection
          : resolved.kind === "missing"
            ? modelCollectionName(alias, model, dimensions)
            : alias;
      logger.info(
        { alias, collection: bound, model, dimensions },
        `vector store BOUND to model "${model}" (${dimensions} dimensions) through "${alias}" -> "${bound}"; to switch models run \`npm run reembed -- --model M --dimensions D\``,
      );
    },
    async ping() {
      await store.ping();
      const resolved = await aliases.resolve(alias);
      if (resolved.kind !== "alias") {
        mismatch = undefined;
        return;
      }
      const found = await aliases.describe(resolved.collection);
      if (matches(found)) {
        if (mismatch !== undefined)
          logger.info(
            { alias, collection: resolved.collection },
            "Qdrant alias points at this model's collection again",
          );
        mismatch = undefined;
        return;
      }
      if (mismatch === undefined) {
        mismatch = mismatchError(resolved.collection, found);
        logger.error(
          { alias, collection: resolved.collection, model: found.model, dimensions: found.dimensions },
          mismatch.message,
        );
      }
      throw new UnavailableError("qdrant", mismatch.message);
    },
    upsert: guard((points, callOptions) => store.upsert(points, callOptions)),
    delete: guard((ids, callOptions) => store.delete(ids, callOptions)),
    deleteCatalog: guard((catalogId, deleteOptions) => store.deleteCatalog(catalogId, deleteOptions)),
    get: guard((ids, callOptions) => store.get(ids, callOptions)),
    search: guard((query) => store.search(query)),
    searchHybrid: guard((query) => store.searchHybrid(query)),
    setStatus: guard((ids, status) => store.setStatus(ids, status)),
    scroll: guard((scrollOptions) => store.scroll(scrollOptions)),
  };
}
