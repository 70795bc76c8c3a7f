import {
  ChangeAliasesSchema,
  CollectionExistsRequestSchema,
  CollectionExistsResponseSchema,
  CollectionOperationResponseSchema,
  CreateCollectionSchema,
  DeleteCollectionSchema,
  GetCollectionInfoRequestSchema,
  GetCollectionInfoResponseSchema,
  ListAliasesRequestSchema,
  ListAliasesResponseSchema,
  ListCollectionAliasesRequestSchema,
  ListCollectionsRequestSchema,
  ListCollectionsResponseSchema,
} from "@qdrant/js-client-grpc";
import { collectionInfo } from "./collection-info.js";
import type { Engine } from "./engine.js";
import { collectionNotFound } from "./errors.js";
import { elapsed, unary, type UnaryHandler } from "./rpc.js";

/** `qdrant.Collections` (collections_service.proto); the RPCs not listed answer UNIMPLEMENTED. */
export function collectionsHandlers(engine: Engine): Record<string, UnaryHandler> {
  const storage = engine.storage;
  return {
    get: unary(GetCollectionInfoRequestSchema, GetCollectionInfoResponseSchema, async (req) => {
      const start = process.hrtime.bigint();
      const result = collectionInfo(storage.resolve(req.collectionName));
      return { result, time: elapsed(start) };
    }),
    list: unary(ListCollectionsRequestSchema, ListCollectionsResponseSchema, async () => {
      const start = process.hrtime.bigint();
      const names = [...storage.collections.keys()].sort();
      return { collections: names.map((name) => ({ name })), time: elapsed(start) };
    }),
    create: unary(CreateCollectionSchema, CollectionOperationResponseSchema, async (req) => {
      const start = process.hrtime.bigint();
      const r = await engine.execute({ kind: "createCollection", request: req }, true);
      return { result: r.kind === "bool" && r.value, time: elapsed(start) };
    }),
    delete: unary(DeleteCollectionSchema, CollectionOperationResponseSchema, async (req) => {
      const start = process.hrtime.bigint();
      const r = await engine.execute({ kind: "deleteCollection", request: req }, true);
      return { result: r.kind === "bool" && r.value, time: elapsed(start) };
    }),
    collectionExists: unary(CollectionExistsRequestSchema, CollectionExistsResponseSchema, async (req) => {
      const start = process.hrtime.bigint();
      const name = req.collectionName;
      const exists = storage.collections.has(storage.aliases.get(name) ?? name);
      return { result: { exists }, time: elapsed(start) };
    }),
    updateAliases: unary(ChangeAliasesSchema, CollectionOperationResponseSchema, async (req) => {
      const start = process.hrtime.bigint();
      const r = await engine.execute({ kind: "updateAliases", request: req }, true);
      return { result: r.kind === "bool" && r.value, time: elapsed(start) };
    }),
    listAliases: unary(ListAliasesRequestSchema, ListAliasesResponseSchema, async () => {
      const start = process.hrtime.bigint();
      const aliases = [...storage.aliases].map(([aliasName, collectionName]) => ({ aliasName, collectionName }));
      return { aliases, time: elapsed(start) };
    }),
    listCollectionAliases: unary(ListCollectionAliasesRequestSchema, ListAliasesResponseSchema, async (req) => {
      const start = process.hrtime.bigint();
      const name = req.collectionName;
      if (!storage.collections.has(name)) throw collectionNotFound(name);
      const aliases = [...storage.aliases]
        .filter(([, target]) => target === name)
        .map(([aliasName, collectionName]) => ({ aliasName, collectionName }));
      return { aliases, time: elapsed(start) };
    }),
  };
}
