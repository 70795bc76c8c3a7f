import type {
  ChangeAliases,
  CreateCollection,
  CreateFieldIndexCollection,
  PointsSelector,
  PointStruct,
  PointVectors,
  UpdateBatchPoints,
  Value,
} from "@qdrant/js-client-grpc";
import { FieldType, PayloadSchemaType, UpdateMode } from "@qdrant/js-client-grpc";
import { Collection, type PreparedDense, type PreparedPoint } from "./collection.js";
import type { Filter } from "./proto-types.js";
import {
  alreadyExists,
  collectionNotFound,
  invalidArgument,
  notFound,
  unimplemented,
  validationError,
  wrongInput,
} from "./errors.js";
import { compileFilter } from "./filter.js";
import type { Mutation, MutationResult } from "./mutation.js";
import { deletePayloadKeys, mergePayload } from "./payload-edit.js";
import { fromValueMap } from "./payload.js";
import { pointKeyOf } from "./point-id.js";
import type { SparseVector } from "./sparse-storage.js";

/** The characters Qdrant refuses in a collection name (NUL and unit separator included). */
const FORBIDDEN_NAME_CHARACTERS = '<>:"/\\|?*\u0000\u001f';

/**
 * All collections and aliases, and the one place state changes: `apply(mutation)`. Names resolve
 * through aliases first, as `TableOfContent::resolve_name` does (lib/storage/src/content_manager/toc/mod.rs).
 */
export class Storage {
  readonly collections = new Map<string, Collection>();
  readonly aliases = new Map<string, string>();
  /** Bumped on every state change, so a caller can tell whether a failed mutation changed anything. */
  changes = 0;

  resolve(name: string): Collection {
    const target = this.aliases.get(name) ?? name;
    const collection = this.collections.get(target);
    if (collection === undefined) throw collectionNotFound(target);
    return collection;
  }

  /** Applies `m` at once (start-up replay, snapshots, small requests). */
  apply(m: Mutation): MutationResult {
    return drain(this.applySteps(m));
  }

  /**
   * Applies `m` in steps: the generator yields between slices of a large upsert (each slice of
   * UPSERT_SLICE points checked, then each slice written), so the caller can let other work run in
   * between (engine.ts). Every point is checked before the first is written, so a bad point still
   * writes none; other mutations run in one step.
   */
  *applySteps(m: Mutation): Generator<void, MutationResult> {
    if (m.kind === "upsert") {
      const c = this.resolve(m.request.collectionName);
      const id = c.nextOperationId;
      yield* this.upsertSteps(c, m.request.points, m.request.updateFilter, m.request.updateMode, id);
      c.nextOperationId = id + 1n;
      this.changes++;
      return { kind: "operations", ids: [id] };
    }
    return this.applyNow(m);
  }

  private applyNow(m: Exclude<Mutation, { kind: "upsert" }>): MutationResult {
    switch (m.kind) {
      case "createCollection":
        return this.createCollection(m.request);
      case "deleteCollection": {
        const name = m.request.collectionName;
        const existed = this.collections.delete(name);
        for (const [alias, target] of this.aliases) if (target === name) this.aliases.delete(alias);
        if (existed) this.changes++;
        return { kind: "bool", value: existed };
      }
      case "updateAliases":
        return this.updateAliases(m.request);
      case "restoreOperationId":
        this.resolve(m.collection).nextOperationId = m.nextOperationId;
        return { kind: "operations", ids: [] };
      case "deletePoints": {
        const c = this.resolve(m.request.collectionName);
        return this.one(c, () => this.deleteSelected(c, m.request.points));
      }
      case "setPayload":
      case "overwritePayload": {
        const r = m.request;
        const c = this.resolve(r.collectionName);
        return this.one(c, (id) =>
          this.setPayload(c, r.payload, r.pointsSelector, r.key, m.kind === "overwritePayload", id),
        );
      }
      case "deletePayload": {
        const r = m.request;
        const c = this.resolve(r.collectionName);
        return this.one(c, (id) => this.editPayload(c, r.pointsSelector, id, (p) => deletePayloadKeys(p, r.keys)));
      }
      case "clearPayload": {
        const c = this.resolve(m.request.collectionName);
        return this.one(c, (id) => this.editPayload(c, m.request.points, id, () => ({})));
      }
      case "createFieldIndex": {
        const c = this.resolve(m.request.collectionName);
        return this.one(c, () => this.createFieldIndex(c, m.request));
      }
      case "deleteFieldIndex": {
        const c = this.resolve(m.request.collectionName);
        return this.one(c, () => {
          c.deleteIndex(m.request.fieldName);
        });
      }
      case "updateBatch":
        return this.updateBatch(m.request);
      case "updateVectors": {
        const r = m.request;
        const c = this.resolve(r.collectionName);
        return this.one(c, (id) => this.updateVectors(c, r.points, r.updateFilter, id));
      }
      case "deleteVectors": {
        const r = m.request;
        const c = this.resolve(r.collectionName);
        return this.one(c, (id) => this.deleteVectors(c, r.pointsSelector, r.vectors?.names ?? [], id));
      }
    }
  }

  private one(c: Collection, run: (operationId: bigint) => void): MutationResult {
    const id = c.nextOperationId;
    run(id);
    c.nextOperationId = id + 1n;
    this.changes++;
    return { kind: "operations", ids: [id] };
  }

  private createCollection(request: CreateCollection): MutationResult {
    const name = request.collectionName;
    if (name.length === 0 || name.length > 255) {
      throw validationError(`collection_name: must be from 1 to 255 characters`);
    }
    if ([...FORBIDDEN_NAME_CHARACTERS].some((character) => name.includes(character))) {
      throw validationError(
        `collection_name: collection name cannot contain "/", "\\", "<", ">", ":", "*", "?", "|" or control characters`,
      );
    }
    if (this.collections.has(name)) throw alreadyExists(`Collection \`${name}\` already exists!`);
    if (this.aliases.has(name)) throw alreadyExists(`Alias with the same name \`${name}\` already exists!`);
    if (request.shardNumber === 0) throw validationError("shard_number: value 0 invalid, must be 1 or larger");
    if (request.shardingMethod === 1) throw unimplemented("Custom sharding");
    this.collections.set(name, new Collection(name, request));
    this.changes++;
    return { kind: "bool", value: true };
  }

  /** Applied in order like `update_aliases` (lib/storage/src/content_manager/toc/collection_meta_ops.rs). */
  private updateAliases(request: ChangeAliases): MutationResult {
    for (const action of request.actions) {
      const a = action.action;
      switch (a.case) {
        case "createAlias": {
          if (!this.collections.has(a.value.collectionName)) throw collectionNotFound(a.value.collectionName);
          if (this.collections.has(a.value.aliasName)) {
            throw alreadyExists(`Collection \`${a.value.aliasName}\` already exists!`);
          }
          this.aliases.set(a.value.aliasName, a.value.collectionName);
          break;
        }
        case "deleteAlias":
          this.aliases.delete(a.value.aliasName);
          break;
        case "renameAlias": {
          const target = this.aliases.get(a.value.oldAliasName);
          if (target === undefined) throw notFound(`Alias ${a.value.oldAliasName} does not exists!`);
          this.aliases.delete(a.value.oldAliasName);
          this.aliases.set(a.value.newAliasName, target);
          break;
        }
        default:
          throw invalidArgument("Malformed alias operation");
      }
      this.changes++;
    }
    return { kind: "bool", value: true };
  }

  private upsert(
    c: Collection,
    points: PointStruct[],
    updateFilter: Filter | undefined,
    mode: UpdateMode | undefined,
    version: bigint,
  ): void {
    drain(this.upsertSteps(c, points, updateFilter, mode, version));
  }

  /** Checks every point (a slice at a time), then writes them (a slice at a time). */
  private *upsertSteps(
    c: Collection,
    points: PointStruct[],
    updateFilter: Filter | undefined,
    mode: UpdateMode | undefined,
    version: bigint,
  ): Generator<void, void> {
    const prepared: PreparedPoint[] = [];
    for (let i = 0; i < points.length; i++) {
      prepared.push(c.preparePoint(points[i], `points[${i}]`));
      if ((i + 1) % UPSERT_SLICE === 0 && i + 1 < points.length) yield;
    }
    const filter = updateFilter === undefined ? undefined : compileFilter(updateFilter, "update_filter");
    if (prepared.length > UPSERT_SLICE) yield;
    const env = c.env();
    for (let i = 0; i < prepared.length; i++) {
      const point = prepared[i];
      const existing = c.offsetOf(point.key);
      if (existing === undefined && mode === UpdateMode.UpdateOnly) continue;
      if (existing !== undefined && mode === UpdateMode.InsertOnly) continue;
      if (existing !== undefined && filter !== undefined) {
        env.at(existing);
        if (!filter.test(env)) continue;
      }
      c.upsert(point, version);
      if ((i + 1) % UPSERT_SLICE === 0 && i + 1 < prepared.length) yield;
    }
  }

  /** Offsets a `PointsSelector` names: listed ids that exist, or points matching the filter. */
  selectOffsets(c: Collection, selector: PointsSelector | undefined): number[] {
    const s = selector?.pointsSelectorOneOf;
    if (s === undefined || s.case === undefined) throw invalidArgument("Points selector is required");
    if (s.case === "filter") return c.filterOffsets(compileFilter(s.value));
    const out: number[] = [];
    for (const id of s.value.ids) {
      const offset = c.offsetOf(pointKeyOf(id));
      if (offset !== undefined) out.push(offset);
    }
    return out;
  }

  /**
   * UpdateVectors (lib/shard/src/update/vectors.rs): every listed point must exist
   * (`check_unprocessed_points`), the given vectors replace those of the same name, others stay.
   */
  private updateVectors(
    c: Collection,
    points: PointVectors[],
    updateFilter: Filter | undefined,
    version: bigint,
  ): void {
    const prepared = points.map((p, i) => {
      const key = pointKeyOf(p.id);
      const offset = c.offsetOf(key);
      if (offset === undefined) throw notFound(`No point with id ${key.slice(1)} found`);
      if (p.vectors === undefined) throw invalidArgument("Expected some vectors");
      const vectors = { dense: new Map<string, PreparedDense>(), sparse: new Map<string, SparseVector>() };
      c.prepareVectors(p.vectors, `points[${i}]`, vectors);
      return { offset, vectors };
    });
    const filter = updateFilter === undefined ? undefined : compileFilter(updateFilter, "update_filter");
    const env = c.env();
    for (const { offset, vectors } of prepared) {
      if (filter !== undefined) {
        env.at(offset);
        if (!filter.test(env)) continue;
      }
      c.setVectors(offset, vectors, version);
    }
  }

  private deleteVectors(
    c: Collection,
    selector: PointsSelector | undefined,
    names: readonly string[],
    version: bigint,
  ): void {
    if (names.length === 0) throw validationError("vectors.names: must specify vector names to delete");
    for (const name of names) {
      if (!c.dense.has(name) && !c.sparse.has(name)) throw wrongInput(`Not existing vector name error: ${name}`);
    }
    const s = selector?.pointsSelectorOneOf;
    if (s?.case === "points") {
      for (const id of s.value.ids) {
        const key = pointKeyOf(id);
        if (c.offsetOf(key) === undefined) throw notFound(`No point with id ${key.slice(1)} found`);
      }
    }
    for (const offset of this.selectOffsets(c, selector)) c.clearVectors(offset, names, version);
  }

  private deleteSelected(c: Collection, selector: PointsSelector | undefined): void {
    for (const offset of this.selectOffsets(c, selector)) c.delete(offset);
  }

  private setPayload(
    c: Collection,
    payload: { [key: string]: Value },
    selector: PointsSelector | undefined,
    key: string | undefined,
    overwrite: boolean,
    version: bigint,
  ): void {
    const patch = fromValueMap(payload);
    this.editPayload(c, selector, version, (old) =>
      overwrite && (key === undefined || key === "")
        ? structuredClone(patch)
        : mergePayload(overwrite ? {} : old, patch, key),
    );
  }

  /**
   * Set, overwrite, delete and clear payload (lib/shard/src/update/payload.rs): every listed id must
   * exist (`check_unprocessed_points`: NOT_FOUND "No point with id N found", the first missing id in
   * request order). Qdrant has by then applied the edit to the existing ids of the same 32-id chunk and
   * of earlier chunks; the embedded server checks first and writes none of them.
   */
  private editPayload(
    c: Collection,
    selector: PointsSelector | undefined,
    version: bigint,
    edit: (old: ReturnType<Collection["payloadAt"]>) => ReturnType<typeof fromValueMap>,
  ): void {
    const s = selector?.pointsSelectorOneOf;
    if (s?.case === "points") {
      for (const id of s.value.ids) {
        const key = pointKeyOf(id);
        if (c.offsetOf(key) === undefined) throw notFound(`No point with id ${key.slice(1)} found`);
      }
    }
    const offsets = this.selectOffsets(c, selector);
    const edited = offsets.map((o) => edit(c.payloadAt(o)));
    offsets.forEach((o, i) => c.replacePayload(o, edited[i], version));
  }

  private createFieldIndex(c: Collection, r: CreateFieldIndexCollection): void {
    const paramsCase = r.fieldIndexParams?.indexParams.case;
    let type: PayloadSchemaType | undefined;
    if (r.fieldType !== undefined)
      type = r.fieldType + 1; // FieldType is PayloadSchemaType - 1
    else if (paramsCase !== undefined) type = PARAMS_TYPE[paramsCase];
    if (type === undefined) {
      throw wrongInput(`Unable to infer type for the field '${r.fieldName}'. Please specify \`field_type\``);
    }
    if (r.fieldType === FieldType.FieldTypeGeo) throw unimplemented("Geo payload indexes");
    c.createIndex(r.fieldName, type, r.fieldIndexParams);
  }

  private updateBatch(request: UpdateBatchPoints): MutationResult {
    const c = this.resolve(request.collectionName);
    const ids: bigint[] = [];
    for (const op of request.operations) {
      const o = op.operation;
      let run: (id: bigint) => void;
      switch (o.case) {
        case "upsert":
          run = (id) => this.upsert(c, o.value.points, o.value.updateFilter, o.value.updateMode, id);
          break;
        case "deletePoints":
          run = () => this.deleteSelected(c, o.value.points);
          break;
        case "deleteDeprecated":
          run = () => this.deleteSelected(c, o.value);
          break;
        case "setPayload":
          run = (id) => this.setPayload(c, o.value.payload, o.value.pointsSelector, o.value.key, false, id);
          break;
        case "overwritePayload":
          run = (id) => this.setPayload(c, o.value.payload, o.value.pointsSelector, o.value.key, true, id);
          break;
        case "deletePayload":
          run = (id) => this.editPayload(c, o.value.pointsSelector, id, (p) => deletePayloadKeys(p, o.value.keys));
          break;
        case "clearPayload":
          run = (id) => this.editPayload(c, o.value.points, id, () => ({}));
          break;
        case "clearPayloadDeprecated":
          run = (id) => this.editPayload(c, o.value, id, () => ({}));
          break;
        case "updateVectors":
          run = (id) => this.updateVectors(c, o.value.points, o.value.updateFilter, id);
          break;
        case "deleteVectors":
          run = (id) => this.deleteVectors(c, o.value.pointsSelector, o.value.vectors?.names ?? [], id);
          break;
        default:
          throw invalidArgument("Malformed points update operation");
      }
      const result = this.one(c, run);
      if (result.kind === "operations") ids.push(...result.ids);
    }
    return { kind: "operations", ids };
  }
}

/** Points checked or written between two yields of `applySteps`: a few milliseconds of work at 3072 dimensions. */
export const UPSERT_SLICE = 32;

/** Runs a step generator to its end. */
function drain<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

const PARAMS_TYPE: Record<string, PayloadSchemaType> = {
  keywordIndexParams: PayloadSchemaType.Keyword,
  integerIndexParams: PayloadSchemaType.Integer,
  floatIndexParams: PayloadSchemaType.Float,
  geoIndexParams: PayloadSchemaType.Geo,
  textIndexParams: PayloadSchemaType.Text,
  boolIndexParams: PayloadSchemaType.Bool,
  datetimeIndexParams: PayloadSchemaType.Datetime,
  uuidIndexParams: PayloadSchemaType.Uuid,
};
