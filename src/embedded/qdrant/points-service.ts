import {
  ClearPayloadPointsSchema,
  CountPointsSchema,
  CountResponseSchema,
  CreateFieldIndexCollectionSchema,
  FacetCountsSchema,
  FacetResponseSchema,
  DeleteFieldIndexCollectionSchema,
  DeletePayloadPointsSchema,
  DeletePointsSchema,
  DeletePointVectorsSchema,
  UpdatePointVectorsSchema,
  GetPointsSchema,
  GetResponseSchema,
  PointsOperationResponseSchema,
  QueryBatchPointsSchema,
  QueryBatchResponseSchema,
  QueryGroupsResponseSchema,
  QueryPointGroupsSchema,
  QueryPointsSchema,
  QueryResponseSchema,
  ScrollPointsSchema,
  ScrollResponseSchema,
  SearchBatchPointsSchema,
  SearchBatchResponseSchema,
  SearchGroupsResponseSchema,
  SearchPointGroupsSchema,
  SearchPointsSchema,
  SearchResponseSchema,
  SetPayloadPointsSchema,
  UpdateBatchPointsSchema,
  UpdateBatchResponseSchema,
  UpdateStatus,
  UpsertPointsSchema,
} from "@qdrant/js-client-grpc";
import type { Engine } from "./engine.js";
import type { Mutation } from "./mutation.js";
import { elapsed, unary, type UnaryHandler } from "./rpc.js";
import { receivedUpsertSteps } from "./upsert-request.js";
import { shadowSchemas } from "./wire-vectors.js";
import {
  countPoints,
  facetCounts,
  getPoints,
  queryBatch,
  queryGroups,
  queryPoints,
  scrollPoints,
  searchBatch,
  searchGroups,
  searchPoints,
} from "./points-read.js";

/** `qdrant.Points` (points_service.proto); the RPCs not listed answer UNIMPLEMENTED. */
export function pointsHandlers(engine: Engine): Record<string, UnaryHandler> {
  const storage = engine.storage;
  // Upserts keep their points' bytes for the journal and decode dense floats from them (upsert-request.ts).
  const upsertSchema = shadowSchemas().upsertPointsRaw as typeof UpsertPointsSchema;
  const updateBatchSchema = shadowSchemas().updateBatchPoints as typeof UpdateBatchPointsSchema;
  // Query and search vectors too: one vector each, but 3072 floats decode in ~40 us as JS numbers.
  const shadow = shadowSchemas();
  const searchSchema = shadow.searchPoints as typeof SearchPointsSchema;
  const searchBatchSchema = shadow.searchBatchPoints as typeof SearchBatchPointsSchema;
  const searchGroupsSchema = shadow.searchPointGroups as typeof SearchPointGroupsSchema;
  const querySchema = shadow.queryPoints as typeof QueryPointsSchema;
  const queryBatchSchema = shadow.queryBatchPoints as typeof QueryBatchPointsSchema;
  const queryGroupsSchema = shadow.queryPointGroups as typeof QueryPointGroupsSchema;

  /** Status `Completed` once applied (and durable) for `wait: true`, else `Acknowledged` (points_api.rs). */
  const update =
    <R extends { wait?: boolean }>(toMutation: (req: R) => Mutation | Promise<Mutation>) =>
    async (req: R) => {
      const start = process.hrtime.bigint();
      const w = req.wait === true;
      const result = await engine.execute(await toMutation(req), w);
      const operationId = result.kind === "operations" ? result.ids[0] : undefined;
      return {
        result: { operationId, status: w ? UpdateStatus.Completed : UpdateStatus.Acknowledged },
        time: elapsed(start),
      };
    };

  return {
    upsert: unary(
      upsertSchema,
      PointsOperationResponseSchema,
      // Points decoded a slice at a time, the event loop free in between.
      update(async (raw) => ({ kind: "upsert", ...(await stepped(receivedUpsertSteps(raw))) })),
    ),
    delete: unary(
      DeletePointsSchema,
      PointsOperationResponseSchema,
      update((request) => ({ kind: "deletePoints", request })),
    ),
    setPayload: unary(
      SetPayloadPointsSchema,
      PointsOperationResponseSchema,
      update((request) => ({ kind: "setPayload", request })),
    ),
    overwritePayload: unary(
      SetPayloadPointsSchema,
      PointsOperationResponseSchema,
      update((request) => ({ kind: "overwritePayload", request })),
    ),
    deletePayload: unary(
      DeletePayloadPointsSchema,
      PointsOperationResponseSchema,
      update((request) => ({ kind: "deletePayload", request })),
    ),
    clearPayload: unary(
      ClearPayloadPointsSchema,
      PointsOperationResponseSchema,
      update((request) => ({ kind: "clearPayload", request })),
    ),
    createFieldIndex: unary(
      CreateFieldIndexCollectionSchema,
      PointsOperationResponseSchema,
      update((request) => ({ kind: "createFieldIndex", request })),
    ),
    deleteFieldIndex: unary(
      DeleteFieldIndexCollectionSchema,
      PointsOperationResponseSchema,
      update((request) => ({ kind: "deleteFieldIndex", request })),
    ),
    updateVectors: unary(
      UpdatePointVectorsSchema,
      PointsOperationResponseSchema,
      update((request) => ({ kind: "updateVectors", request })),
    ),
    deleteVectors: unary(
      DeletePointVectorsSchema,
      PointsOperationResponseSchema,
      update((request) => ({ kind: "deleteVectors", request })),
    ),
    updateBatch: unary(updateBatchSchema, UpdateBatchResponseSchema, async (req) => {
      const start = process.hrtime.bigint();
      const w = req.wait === true;
      const result = await engine.execute({ kind: "updateBatch", request: req }, w);
      const ids = result.kind === "operations" ? result.ids : [];
      const status = w ? UpdateStatus.Completed : UpdateStatus.Acknowledged;
      return { result: ids.map((operationId) => ({ operationId, status })), time: elapsed(start) };
    }),
    get: unary(GetPointsSchema, GetResponseSchema, async (req) => timed(() => ({ result: getPoints(storage, req) }))),
    facet: unary(FacetCountsSchema, FacetResponseSchema, async (req) =>
      timed(() => ({ hits: facetCounts(storage, req) })),
    ),
    count: unary(CountPointsSchema, CountResponseSchema, async (req) =>
      timed(() => ({ result: countPoints(storage, req) })),
    ),
    scroll: unary(ScrollPointsSchema, ScrollResponseSchema, async (req) => timed(() => scrollPoints(storage, req))),
    search: unary(searchSchema, SearchResponseSchema, async (req) =>
      timed(() => ({ result: searchPoints(storage, req) })),
    ),
    searchBatch: unary(searchBatchSchema, SearchBatchResponseSchema, async (req) =>
      timed(() => ({ result: searchBatch(storage, req) })),
    ),
    searchGroups: unary(searchGroupsSchema, SearchGroupsResponseSchema, async (req) =>
      timed(() => ({ result: searchGroups(storage, req) })),
    ),
    query: unary(querySchema, QueryResponseSchema, async (req) => timed(() => ({ result: queryPoints(storage, req) }))),
    queryBatch: unary(queryBatchSchema, QueryBatchResponseSchema, async (req) =>
      timed(() => ({ result: queryBatch(storage, req) })),
    ),
    queryGroups: unary(queryGroupsSchema, QueryGroupsResponseSchema, async (req) =>
      timed(() => ({ result: queryGroups(storage, req) })),
    ),
  };
}

/** Runs a step generator, letting the event loop run between its steps. */
async function stepped<T>(steps: Generator<void, T>): Promise<T> {
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done === true) return step.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function timed<T extends object>(run: () => T): T & { time: number } {
  const start = process.hrtime.bigint();
  const out = run();
  return { ...out, time: elapsed(start) };
}
