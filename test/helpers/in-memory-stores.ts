// In-memory MetadataStore and VectorStore for unit tests of the core: no I/O, so a test decides exactly
// which call fails and in what order. The vector store is held to the same contract as the Qdrant one
// (test/contract/vector-store.ts); the metadata store follows the interface's documented semantics.
import type { EmbeddingRow, EmbeddingRowInput, EmbeddingStatus, WriteIntent } from "../../src/core/types.js";
import type { ListRowsOptions, LockKeys, MetadataStore, TableRef } from "../../src/stores/metadata-store.js";
import { fuseRrf } from "../../src/stores/rrf-fusion.js";
import type { StoredPoint, VectorHit, VectorPoint, VectorSearch, VectorStore } from "../../src/stores/vector-store.js";

interface MetadataState {
  rows: Map<string, EmbeddingRow>;
  /** Insertion order is age: listIntentIds gives the oldest first. */
  intents: Map<string, WriteIntent>;
}

function cloneState(state: MetadataState): MetadataState {
  return { rows: new Map(state.rows), intents: new Map(state.intents) };
}

/** FIFO locks on string keys; a holder's set of keys makes nested withLocks re-entrant. */
class LockTable {
  private readonly queues = new Map<string, Array<() => void>>();

  isFree(key: string): boolean {
    return !this.queues.has(key);
  }

  async acquire(key: string): Promise<void> {
    const queue = this.queues.get(key);
    if (queue === undefined) {
      this.queues.set(key, []);
      return;
    }
    await new Promise<void>((resolve) => queue.push(resolve));
  }

  release(key: string): void {
    const next = this.queues.get(key)?.shift();
    if (next === undefined) this.queues.delete(key);
    else next();
  }
}

export interface InMemoryMetadataStore extends MetadataStore {
  /** The committed rows and intents (tests inspect them). */
  readonly committed: { rows: ReadonlyMap<string, EmbeddingRow>; intents: ReadonlyMap<string, WriteIntent> };
}

export function createInMemoryMetadataStore(): InMemoryMetadataStore {
  const root: { state: MetadataState } = { state: { rows: new Map(), intents: new Map() } };
  const locks = new LockTable();
  let clock = 0;
  const now = () => ++clock;

  function bind(holder: { state: MetadataState }, held: ReadonlySet<string>): MetadataStore {
    const rows = () => holder.state.rows;
    const intents = () => holder.state.intents;
    const inCatalog = (row: EmbeddingRow | undefined, catalogId: string | undefined) =>
      row !== undefined && (catalogId === undefined || row.catalogId === catalogId.toLowerCase());

    const store: MetadataStore = {
      async upsertRows(input: readonly EmbeddingRowInput[]) {
        const last = new Map(input.map((row) => [row.id.toLowerCase(), row]));
        const written: string[] = [];
        for (const [id, row] of last) {
          const stored = rows().get(id);
          if (stored !== undefined && stored.catalogId !== row.catalogId.toLowerCase()) continue;
          const time = now();
          rows().set(id, {
            ...row,
            id,
            catalogId: row.catalogId.toLowerCase(),
            metadata: structuredClone(row.metadata),
            createdAt: stored?.createdAt ?? time,
            updatedAt: time,
          });
          written.push(id);
        }
        return written;
      },
      async getRows(ids, options = {}) {
        return ids
          .map((id) => rows().get(id.toLowerCase()))
          .filter((row): row is EmbeddingRow => inCatalog(row, options.catalogId));
      },
      async getContextRows(catalogId, request: { ids: readonly string[]; tables: readonly TableRef[] }) {
        const ids = new Set(request.ids.map((id) => id.toLowerCase()));
        const wanted = (row: EmbeddingRow) =>
          ids.has(row.id) ||
          (row.metadata.origin === "catalog" &&
            request.tables.some((table) => table.schema === row.schemaName && table.table === row.tableName) &&
            (row.kind === "table" ||
              (row.kind === "column" &&
                (row.metadata.primaryKey === true ||
                  (typeof row.metadata.references === "object" && row.metadata.references !== null)))));
        return [...rows().values()].filter(
          (row) => row.catalogId === catalogId.toLowerCase() && row.status !== "rejected" && wanted(row),
        );
      },
      async deleteRows(ids, options = {}) {
        const deleted: string[] = [];
        for (const id of new Set(ids.map((value) => value.toLowerCase()))) {
          const row = rows().get(id);
          if (!inCatalog(row, options.catalogId)) continue;
          if (options.status !== undefined && row!.status !== options.status) continue;
          rows().delete(id);
          deleted.push(id);
        }
        return deleted;
      },
      async listRows(options: ListRowsOptions) {
        return [...rows().values()]
          .filter(
            (row) =>
              inCatalog(row, options.catalogId) &&
              (options.status === undefined || row.status === options.status) &&
              (options.afterId === undefined || row.id > options.afterId.toLowerCase()),
          )
          .sort((a, b) => (a.id < b.id ? -1 : 1))
          .slice(0, options.limit);
      },
      async countRows(options) {
        return [...rows().values()].filter(
          (row) => inCatalog(row, options.catalogId) && (options.status === undefined || row.status === options.status),
        ).length;
      },
      async updateStatus(ids, status: EmbeddingStatus, options = {}) {
        const found: string[] = [];
        for (const id of new Set(ids.map((value) => value.toLowerCase()))) {
          const row = rows().get(id);
          if (!inCatalog(row, options.catalogId)) continue;
          rows().set(id, { ...row!, status, updatedAt: now() });
          found.push(id);
        }
        return found;
      },
      async putIntents(input) {
        for (const intent of input) {
          const id = intent.id.toLowerCase();
          intents().delete(id);
          intents().set(id, { ...intent, id, vector: intent.vector && Float32Array.from(intent.vector) });
        }
      },
      async getIntents(ids) {
        return ids
          .map((id) => intents().get(id.toLowerCase()))
          .filter((intent): intent is WriteIntent => intent !== undefined);
      },
      async listIntentIds(limit) {
        return [...intents().keys()].slice(0, limit);
      },
      async deleteIntents(ids, options = {}) {
        let deleted = 0;
        for (const id of new Set(ids.map((value) => value.toLowerCase()))) {
          const intent = intents().get(id);
          if (intent === undefined || (options.writeId !== undefined && intent.writeId !== options.writeId)) continue;
          intents().delete(id);
          deleted++;
        }
        return deleted;
      },
      async countIntents() {
        return intents().size;
      },
      async withLocks<T>(keys: LockKeys, fn: (store: MetadataStore, locked: string[]) => Promise<T>): Promise<T> {
        const catalogKeys = [...new Set((keys.catalogIds ?? []).map((id) => `catalog:${id.toLowerCase()}`))].sort();
        const ids = [...new Set((keys.ids ?? []).map((id) => id.toLowerCase()))].sort();
        const taken: string[] = [];
        const locked: string[] = [];
        for (const key of catalogKeys) {
          if (held.has(key)) continue;
          await locks.acquire(key);
          taken.push(key);
        }
        for (const id of ids) {
          const key = `id:${id}`;
          if (held.has(key)) {
            locked.push(id);
          } else if (!keys.skipLocked || locks.isFree(key)) {
            await locks.acquire(key);
            taken.push(key);
            locked.push(id);
          }
        }
        try {
          return await fn(bind(holder, new Set([...held, ...taken])), locked);
        } finally {
          for (const key of taken.reverse()) locks.release(key);
        }
      },
      async transaction<T>(fn: (store: MetadataStore) => Promise<T>): Promise<T> {
        const inner = { state: cloneState(holder.state) };
        const result = await fn(bind(inner, held));
        holder.state = inner.state;
        return result;
      },
      async ping() {},
    };
    return store;
  }

  const store = bind(root, new Set());
  return Object.defineProperty(store, "committed", {
    get: () => ({ rows: root.state.rows, intents: root.state.intents }),
  }) as InMemoryMetadataStore;
}

function normalized(vector: Float32Array): Float32Array {
  let sum = 0;
  for (const value of vector) sum += value * value;
  const norm = Math.sqrt(sum);
  return vector.map((value) => value / norm);
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

export interface InMemoryVectorStore extends VectorStore {
  /** The stored points by id (tests inspect them). */
  readonly points: ReadonlyMap<string, StoredPoint & { sparse?: VectorPoint["sparse"] }>;
}

/**
 * Points in a Map, searched exactly (cosine: vectors are stored normalized, as Qdrant's cosine
 * collections do). Fused search ranks each list with Qdrant's RRF as the real store does; the sparse
 * score is a plain dot product (Qdrant adds IDF).
 */
export function createInMemoryVectorStore(dimensions: number): InMemoryVectorStore {
  const points = new Map<string, StoredPoint & { vector: Float32Array; sparse?: VectorPoint["sparse"] }>();

  const matches = (point: StoredPoint, query: VectorSearch) => {
    const { filter } = query;
    const payload = point.payload;
    return (
      payload.catalog_id === filter.catalogId &&
      (filter.kinds === undefined || filter.kinds.length === 0 || filter.kinds.includes(payload.kind)) &&
      (filter.schemaName === undefined || payload.schema === filter.schemaName) &&
      (filter.tableName === undefined || payload.table === filter.tableName) &&
      (filter.statuses === undefined || filter.statuses.length === 0
        ? payload.status !== "rejected"
        : filter.statuses.includes(payload.status))
    );
  };
  const byScore = (a: VectorHit, b: VectorHit) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

  return {
    get points() {
      return points;
    },
    async start() {},
    async upsert(batch) {
      for (const point of batch) {
        if (point.vector.length !== dimensions) {
          throw new Error(`in-memory store holds ${dimensions}-dimensional vectors, got ${point.vector.length}`);
        }
        points.set(point.id.toLowerCase(), {
          id: point.id.toLowerCase(),
          payload: { ...point.payload },
          vector: normalized(point.vector),
          sparse: point.sparse,
        });
      }
    },
    async delete(ids) {
      for (const id of ids) points.delete(id.toLowerCase());
    },
    async deleteCatalog(catalogId, options) {
      for (const [id, point] of points) {
        if (
          point.payload.catalog_id === catalogId &&
          (options?.status === undefined || point.payload.status === options.status)
        ) {
          points.delete(id);
        }
      }
    },
    async get(ids, options) {
      return ids
        .map((id) => points.get(id.toLowerCase()))
        .filter((point) => point !== undefined)
        .map((point) => ({
          id: point.id,
          payload: { ...point.payload },
          ...(options?.withVector ? { vector: Float32Array.from(point.vector) } : {}),
        }));
    },
    async search(query) {
      const vector = normalized(query.vector);
      const offset = query.offset ?? 0;
      return [...points.values()]
        .filter((point) => matches(point, query))
        .map((point) => ({ id: point.id, score: dot(vector, point.vector) }))
        .filter((hit) => query.scoreThreshold === undefined || hit.score >= query.scoreThreshold)
        .sort(byScore)
        .slice(offset, offset + query.limit);
    },
    async searchHybrid(query) {
      const candidates = [...points.values()].filter((point) => matches(point, query));
      const vector = normalized(query.vector);
      const sparse = query.sparse;
      const hitPayload = (point: StoredPoint) => ({
        kind: point.payload.kind,
        schema: point.payload.schema,
        table: point.payload.table,
        content_hash: point.payload.content_hash,
      });
      const dense = candidates
        .map((point) => ({ id: point.id, score: dot(vector, point.vector), payload: hitPayload(point) }))
        .filter((hit) => query.denseThreshold === undefined || hit.score > query.denseThreshold)
        .sort(byScore)
        .slice(0, query.candidates);
      const lexical = candidates
        .map((point) => {
          let score = 0;
          const terms = new Map(
            Array.from(point.sparse?.indices ?? [], (index, i) => [index, point.sparse!.values[i]]),
          );
          sparse.indices.forEach((index, i) => (score += (terms.get(index) ?? 0) * sparse.values[i]));
          return { id: point.id, score, payload: hitPayload(point) };
        })
        .filter((hit) => hit.score > 0)
        .sort(byScore)
        .slice(0, query.candidates);
      return {
        hits: fuseRrf([dense, lexical]).slice(0, query.limit),
        bestDense: dense.length === 0 ? undefined : Math.max(...dense.map((hit) => hit.score)),
      };
    },
    async setStatus(ids, status) {
      for (const id of ids) {
        const point = points.get(id.toLowerCase());
        if (point !== undefined) point.payload = { ...point.payload, status };
      }
    },
    async scroll({ catalogId, afterId, limit }) {
      const ordered = [...points.values()]
        .filter((point) => catalogId === undefined || point.payload.catalog_id === catalogId)
        .sort((a, b) => (a.id < b.id ? -1 : 1));
      // As Qdrant's offset: the page starts AT `afterId` (the `nextId` of the page before).
      const start = afterId === undefined ? 0 : ordered.findIndex((point) => point.id >= afterId.toLowerCase());
      const page = start < 0 ? [] : ordered.slice(start, start + limit + 1);
      return {
        points: page.slice(0, limit).map((point) => ({ id: point.id, payload: { ...point.payload } })),
        nextId: page.length > limit ? page[limit].id : undefined,
      };
    },
    async ping() {},
  };
}
