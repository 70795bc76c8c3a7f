import type { CreateCollection, PointStruct, VectorParams } from "@qdrant/js-client-grpc";
import { Datatype, Distance, Modifier, PayloadSchemaType } from "@qdrant/js-client-grpc";
import { metricFor, type Metric } from "./distance.js";
import { NON_FINITE, scanFloat32 } from "../../wire/float32.js";
import { invalidArgument, unimplemented, validationError, wrongInput } from "./errors.js";
import type { CompiledFilter, FilterEnv, IndexSource } from "./filter.js";
import { PayloadIndex } from "./payload-index.js";
import { fromValueMap, type PayloadObject } from "./payload.js";
import { comparePointKeys, pointKeyOf, type PointKey } from "./point-id.js";
import { SparseVectorStorage, type SparseVector } from "./sparse-storage.js";
import { DenseVectorStorage } from "./vector-storage.js";
import { DEFAULT_VECTOR, readVectors, type StoredVector } from "./vectors.js";

export interface DenseSlot {
  readonly name: string;
  readonly size: number;
  readonly distance: Distance;
  readonly metric: Metric;
  readonly storage: DenseVectorStorage;
}

export interface SparseSlot {
  readonly name: string;
  readonly idf: boolean;
  readonly storage: SparseVectorStorage;
}

/** A checked dense vector: stored as `data[i] / divisor` (the metric's preprocessing, done while copying). */
export interface PreparedDense {
  data: Float32Array;
  divisor: number;
}

/** A point checked against the collection's config, ready to be written. */
export interface PreparedPoint {
  key: PointKey;
  payload: PayloadObject;
  dense: Map<string, PreparedDense>;
  sparse: Map<string, SparseVector>;
}

/**
 * One collection: its config as created, the points (offset-addressed: id, payload, version), the
 * dense and sparse vector storages and the payload indexes. Every mutating method either validates
 * everything first or cannot fail, so a batch with one bad point writes none.
 */
export class Collection {
  readonly name: string;
  readonly config: CreateCollection;
  readonly dense = new Map<string, DenseSlot>();
  readonly sparse = new Map<string, SparseSlot>();
  readonly indexes = new Map<string, PayloadIndex>();
  /** Next operation id (Qdrant counts per collection from 0). */
  nextOperationId = 0n;

  private readonly offsets = new Map<PointKey, number>();
  private readonly keys: (PointKey | undefined)[] = [];
  private readonly payloads: (PayloadObject | undefined)[] = [];
  private readonly versions: bigint[] = [];
  private readonly free: number[] = [];
  /** Live offsets in id order, rebuilt lazily after ids are added or removed. */
  private idOrder: number[] | undefined;

  constructor(name: string, config: CreateCollection) {
    this.name = name;
    this.config = config;
    const vc = config.vectorsConfig?.config;
    if (vc?.case === "params") this.addDense(DEFAULT_VECTOR, vc.value, "vectors_config.params");
    else if (vc?.case === "paramsMap") {
      for (const [n, p] of Object.entries(vc.value.map)) this.addDense(n, p, `vectors_config.params_map.map[${n}]`);
    }
    for (const [n, p] of Object.entries(config.sparseVectorsConfig?.map ?? {})) {
      if (
        p.index?.datatype !== undefined &&
        p.index.datatype !== Datatype.Float32 &&
        p.index.datatype !== Datatype.Default
      ) {
        throw unimplemented("Sparse vector datatypes other than float32");
      }
      this.sparse.set(n, { name: n, idf: p.modifier === Modifier.Idf, storage: new SparseVectorStorage() });
    }
  }

  private addDense(name: string, params: VectorParams, label: string): void {
    const size = Number(params.size);
    if (size < 1 || size > 65536) {
      throw validationError(`${label}.size: value ${size} invalid, must be from 1 to 65536`);
    }
    if (params.multivectorConfig !== undefined) throw unimplemented("Multi vectors (multivector_config)");
    if (params.datatype !== undefined && params.datatype !== Datatype.Float32 && params.datatype !== Datatype.Default) {
      throw unimplemented("Vector datatypes other than float32");
    }
    if (params.distance === Distance.UnknownDistance || Distance[params.distance] === undefined) {
      throw validationError(`${label}.distance: unknown distance ${params.distance}`);
    }
    this.dense.set(name, {
      name,
      size,
      distance: params.distance,
      metric: metricFor(params.distance),
      storage: new DenseVectorStorage(size),
    });
  }

  get pointsCount(): number {
    return this.offsets.size;
  }

  offsetOf(key: PointKey): number | undefined {
    return this.offsets.get(key);
  }

  keyAt(offset: number): PointKey {
    return this.keys[offset]!;
  }

  payloadAt(offset: number): PayloadObject | undefined {
    return this.payloads[offset];
  }

  versionAt(offset: number): bigint {
    return this.versions[offset] ?? 0n;
  }

  /** Live offsets in point-id order (Scroll's order). */
  offsetsInIdOrder(): readonly number[] {
    if (this.idOrder === undefined) {
      this.idOrder = [...this.offsets.keys()].sort(comparePointKeys).map((k) => this.offsets.get(k)!);
    }
    return this.idOrder;
  }

  *liveOffsets(): Iterable<number> {
    for (const offset of this.offsets.values()) yield offset;
  }

  /** One past the highest offset ever used: live points are among [0, offsetLimit). */
  get offsetLimit(): number {
    return this.keys.length;
  }

  vectorsAt(offset: number, names?: ReadonlySet<string>): Map<string, StoredVector> {
    const out = new Map<string, StoredVector>();
    for (const [name, slot] of this.dense) {
      if (names && !names.has(name)) continue;
      const v = slot.storage.get(offset);
      if (v) out.set(name, v);
    }
    for (const [name, slot] of this.sparse) {
      if (names && !names.has(name)) continue;
      const v = slot.storage.get(offset);
      if (v) out.set(name, v);
    }
    return out;
  }

  hasVector(name: string, offset: number): boolean {
    const d = this.dense.get(name);
    if (d) return d.storage.has(offset);
    return this.sparse.get(name)?.storage.has(offset) ?? false;
  }

  /** Checks a point's id, vectors (names, dimensions, finite values) and payload; writes nothing. */
  preparePoint(point: PointStruct, label: string): PreparedPoint {
    // Order and wording of `TryFrom<PointStruct>` in lib/api/src/grpc/conversions.rs.
    if (point.vectors === undefined) throw invalidArgument("Expected some vectors");
    if (point.id === undefined) throw invalidArgument("Empty ID is not allowed");
    const key = pointKeyOf(point.id);
    const prepared: PreparedPoint = { key, payload: fromValueMap(point.payload), dense: new Map(), sparse: new Map() };
    this.prepareVectors(point.vectors, label, prepared);
    return prepared;
  }

  /** Checks and converts a `Vectors` message into `into.dense` / `into.sparse`. */
  prepareVectors(vectors: PointStruct["vectors"], label: string, into: Pick<PreparedPoint, "dense" | "sparse">): void {
    const prepared = into;
    for (const [name, input] of readVectors(vectors, `${label}.vectors`)) {
      if (input.kind === "dense") {
        const slot = this.dense.get(name);
        if (slot === undefined) throw wrongInput(`Not existing vector name error: ${name}`);
        if (input.data.length !== slot.size) {
          throw wrongInput(`Vector dimension error: expected dim: ${slot.size}, got ${input.data.length}`);
        }
        if ((scanFloat32(input.data) & NON_FINITE) !== 0) checkFinite(input.data, label);
        prepared.dense.set(name, { data: input.data, divisor: slot.metric.divisor(input.data) });
      } else {
        if (!this.sparse.has(name)) throw wrongInput(`Not existing vector name error: ${name}`);
        checkFinite(input.vector.values, label);
        prepared.sparse.set(name, input.vector);
      }
    }
  }

  /** Replaces the given vectors of a live point, keeping its other vectors and payload. */
  setVectors(offset: number, vectors: Pick<PreparedPoint, "dense" | "sparse">, version: bigint): void {
    for (const [name, v] of vectors.dense) this.dense.get(name)!.storage.set(offset, v.data, v.divisor);
    for (const [name, v] of vectors.sparse) this.sparse.get(name)!.storage.set(offset, v);
    this.versions[offset] = version;
  }

  /** Removes the named vectors of a live point. */
  clearVectors(offset: number, names: readonly string[], version: bigint): void {
    for (const name of names) {
      this.dense.get(name)?.storage.clear(offset);
      this.sparse.get(name)?.storage.clear(offset);
    }
    this.versions[offset] = version;
  }

  /** Inserts or fully replaces a point (vectors and payload), as Qdrant's upsert does. */
  upsert(point: PreparedPoint, version: bigint): void {
    let offset = this.offsets.get(point.key);
    if (offset === undefined) {
      offset = this.free.pop() ?? this.keys.length;
      this.offsets.set(point.key, offset);
      this.keys[offset] = point.key;
      this.idOrder = undefined;
    } else {
      this.unindex(offset);
    }
    for (const [name, slot] of this.dense) {
      const v = point.dense.get(name);
      if (v) slot.storage.set(offset, v.data, v.divisor);
      else slot.storage.clear(offset);
    }
    for (const [name, slot] of this.sparse) {
      const v = point.sparse.get(name);
      if (v) slot.storage.set(offset, v);
      else slot.storage.clear(offset);
    }
    this.payloads[offset] = point.payload;
    this.versions[offset] = version;
    this.index(offset);
  }

  delete(offset: number): void {
    const key = this.keys[offset];
    if (key === undefined) return;
    this.unindex(offset);
    for (const slot of this.dense.values()) slot.storage.clear(offset);
    for (const slot of this.sparse.values()) slot.storage.clear(offset);
    this.offsets.delete(key);
    this.keys[offset] = undefined;
    this.payloads[offset] = undefined;
    this.free.push(offset);
    this.idOrder = undefined;
  }

  replacePayload(offset: number, payload: PayloadObject, version: bigint): void {
    this.unindex(offset);
    this.payloads[offset] = payload;
    this.versions[offset] = version;
    this.index(offset);
  }

  createIndex(field: string, type: PayloadSchemaType, params: unknown): void {
    const index = new PayloadIndex(field, type, params);
    for (const offset of this.offsets.values()) index.add(offset, this.payloads[offset]);
    this.indexes.set(field, index);
  }

  deleteIndex(field: string): boolean {
    return this.indexes.delete(field);
  }

  /** Offsets matching a filter: index candidates first when the filter allows, then the full check. */
  filterOffsets(filter: CompiledFilter): number[] {
    const out: number[] = [];
    const candidates = filter.candidates(this.indexSource);
    if (candidates?.exact) {
      for (const offset of candidates.offsets) if (this.keys[offset] !== undefined) out.push(offset);
      return out;
    }
    const env = this.env();
    for (const offset of candidates?.offsets ?? this.offsets.values()) {
      if (this.keys[offset] === undefined) continue;
      env.at(offset);
      if (filter.test(env)) out.push(offset);
    }
    return out;
  }

  /**
   * Whether a point passes a filter, asked point by point: for searches that find their candidates
   * elsewhere (sparse posting lists) and would otherwise list every match of the filter first.
   */
  matcher(filter: CompiledFilter): (offset: number) => boolean {
    const { keys } = this;
    if (filter.trivial) return (offset) => keys[offset] !== undefined;
    const candidates = filter.candidates(this.indexSource);
    if (candidates?.exact) return (offset) => keys[offset] !== undefined && candidates.offsets.has(offset);
    const env = this.env();
    return (offset) => {
      if (keys[offset] === undefined || (candidates !== undefined && !candidates.offsets.has(offset))) return false;
      env.at(offset);
      return filter.test(env);
    };
  }

  /** A reusable evaluation environment for `CompiledFilter.test`, moved from point to point. */
  env(): FilterEnv & { at(offset: number): void } {
    let current = 0;
    const { indexes, payloads, keys } = this;
    const env: FilterEnv & { at(offset: number): void } = {
      payload: undefined,
      key: undefined,
      hasVector: (name: string) => this.hasVector(name, current),
      textIndex: (key: string) => indexes.get(key)?.tokenizer,
      fieldIndex: (key: string) => indexes.get(key),
      at(offset: number) {
        current = offset;
        env.payload = payloads[offset];
        env.key = keys[offset];
      },
    };
    return env;
  }

  readonly indexSource: IndexSource = {
    index: (field) => this.indexes.get(field),
    offsetOf: (key) => this.offsets.get(key),
  };

  private index(offset: number): void {
    for (const index of this.indexes.values()) index.add(offset, this.payloads[offset]);
  }

  private unindex(offset: number): void {
    for (const index of this.indexes.values()) index.remove(offset, this.payloads[offset]);
  }
}

function checkFinite(values: Float32Array, label: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw validationError(`${label}.vectors: vector contains a non-finite value (NaN or Infinity) at position ${i}`);
    }
  }
}
