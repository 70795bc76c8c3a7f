import type { Logger } from "pino";
import type { Embedder } from "../embedders/embedder.js";
import type { MetadataStore, TableRef } from "../stores/metadata-store.js";
import type { HitPayload, HybridHits, VectorFilter, VectorStore } from "../stores/vector-store.js";
import { encodeSparse } from "../embedders/sparse-encoder.js";
import {
  assembleContext,
  findBridgeTables,
  rankTables,
  type AssembleInput,
  type AssembledContext,
  type ChunkPlace,
} from "./context/assemble.js";
import { renderContext } from "./context/render.js";
import { InvalidArgumentError } from "./errors.js";
import type { EmbeddingRow } from "./types.js";

export interface SearchQuery {
  filter: VectorFilter;
  /** Exactly one of text and vector. */
  text?: string;
  vector?: Float32Array;
  limit: number;
  offset: number;
  scoreThreshold?: number;
  signal?: AbortSignal;
}

export interface SearchHit {
  row: EmbeddingRow;
  score: number;
}

export interface RetrieveDeps {
  metadata: MetadataStore;
  vectors: VectorStore;
  embedder: Embedder;
  logger: Logger;
  /** Called with the number of Qdrant hits whose Postgres row was gone (they are never returned). */
  onDroppedHits?: (count: number) => void;
  /**
   * Assembles the context off the event loop (`CpuPool.assembleContext`, cl100k counts): rows of long
   * runs without spaces are seconds of counting. Inline with the embedder's counter when absent.
   */
  assembleContext?: (input: Omit<AssembleInput, "countTokens">) => Promise<AssembledContext>;
  /** Called once per `retrieveContext` that answered, with the seconds each step took. */
  onStepTimings?: (timings: RetrieveStepTimings) => void;
}

/**
 * The steps of `retrieveContext`, timed per call: embedding the question, the Qdrant query, ranking
 * (fusion order, table ranking, which rows to fetch), the Postgres fetches, and assembling the context
 * under its budgets (token counting, rendering).
 */
export const RETRIEVE_STEPS = ["embed", "qdrant", "rank", "postgres", "assemble"] as const;
export type RetrieveStep = (typeof RETRIEVE_STEPS)[number];
export type RetrieveStepTimings = Record<RetrieveStep, number>;

/** Adds each step's wall time (seconds) to `timings`; a step may run several times in one call. */
function stepClock(timings: RetrieveStepTimings) {
  return {
    async step<T>(name: RetrieveStep, run: () => Promise<T>): Promise<T> {
      const start = performance.now();
      try {
        return await run();
      } finally {
        timings[name] += (performance.now() - start) / 1000;
      }
    },
    sync<T>(name: RetrieveStep, run: () => T): T {
      const start = performance.now();
      try {
        return run();
      } finally {
        timings[name] += (performance.now() - start) / 1000;
      }
    },
  };
}

export interface ContextQuery {
  catalogId: string;
  question: string;
  schemaName?: string;
  maxChunks: number;
  maxTokens: number;
  minRelevance?: number;
  signal?: AbortSignal;
}

export interface RetrievedContext extends AssembledContext {
  insufficientContext: boolean;
  relevanceFloor: number;
}

export interface Retrieve {
  search(query: SearchQuery): Promise<SearchHit[]>;
  retrieveContext(query: ContextQuery): Promise<RetrievedContext>;
}

/**
 * Hits fetched beyond each edge of a search page. Qdrant orders equal scores arbitrarily (by segment
 * layout, arrival order), so the service re-sorts what it got with a stable key and cuts itself: a tie
 * group straddling an edge is then decided here, the same way on every run and on the embedded server
 * and real Qdrant alike. (Context candidates are fused here, with the same care: rrf-fusion.ts.)
 */
const TIE_MARGIN = 8;
/** The widest window a page's tie groups are followed to; past it, ties at the edge stay Qdrant's. */
const MAX_TIE_WINDOW = 10_000;

/** Best score first; equal scores by point id. */
function byScoreThenId(a: { id: string; score: number }, b: { id: string; score: number }): number {
  return b.score - a.score || compareText(a.id, b.id);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Fused candidates a context is assembled from, and tables whose key columns are fetched. */
const CONTEXT_CANDIDATES = 60;
const CONTEXT_TABLES = 10;
/** The best tables, whose every column is offered to the context (after hits and keys), and bridges are sought between. */
const FULL_TABLES = 3;
/** The most columns of one table fetched that way (wider tables keep their hits and keys). */
const FULL_TABLE_COLUMNS = 100;

export function createRetrieve(deps: RetrieveDeps): Retrieve {
  const { metadata, vectors, embedder, logger } = deps;

  /**
   * The page `[offset, offset + limit)` in (score, point id) order. Qdrant is asked for a window a
   * margin wider on each side, re-sorted here; while a tie group on the page reaches an edge of the
   * window (the first hit ties the window's best, or the last ties its worst and the window was full),
   * the members beyond that edge are unknown (Qdrant orders ties its own way), so the window is widened
   * on that side and asked again, up to MAX_TIE_WINDOW hits.
   */
  async function pageOfHits(query: SearchQuery, vector: Float32Array) {
    let before = TIE_MARGIN;
    let after = TIE_MARGIN;
    for (;;) {
      const from = Math.max(0, query.offset - before);
      const limit = query.offset - from + query.limit + after;
      const window = await vectors.search({
        filter: query.filter,
        vector,
        limit,
        offset: from,
        scoreThreshold: query.scoreThreshold,
        signal: query.signal,
      });
      window.sort(byScoreThenId);
      const page = window.slice(query.offset - from, query.offset - from + query.limit);
      if (page.length === 0) return page;
      const openBefore = from > 0 && page[0].score === window[0].score;
      const openAfter = window.length === limit && page[page.length - 1].score === window[window.length - 1].score;
      if ((!openBefore && !openAfter) || limit >= MAX_TIE_WINDOW) return page;
      if (openBefore) before *= 4;
      if (openAfter) after *= 4;
    }
  }

  return {
    async retrieveContext(query) {
      const timings: RetrieveStepTimings = { embed: 0, qdrant: 0, rank: 0, postgres: 0, assemble: 0 };
      const clock = stepClock(timings);
      const relevanceFloor = query.minRelevance ?? embedder.relevanceFloor;
      const [vector] = await clock.step("embed", () =>
        embedder.embed([{ text: query.question }], { signal: query.signal }),
      );
      // Dense and sparse candidates in one request; the dense list also says whether anything reached
      // the floor. Fused with ties by content hash, then id: point ids are per catalog, so two catalogs
      // with the same content rank the same.
      const { hits: fused, bestDense } = await clock.step("qdrant", () =>
        vectors.searchHybrid({
          filter: { catalogId: query.catalogId, schemaName: query.schemaName },
          vector,
          sparse: encodeSparse(query.question),
          limit: CONTEXT_CANDIDATES,
          candidates: CONTEXT_CANDIDATES * 2,
          denseThreshold: relevanceFloor,
          signal: query.signal,
        }),
      );
      const empty = { tables: [], chunks: [], text: "", tokens: 0, truncated: false, relevanceFloor };
      if (fused.length === 0 || bestDense === undefined) {
        deps.onStepTimings?.(timings);
        return { ...empty, insufficientContext: true };
      }
      const input = await contextRows(metadata, query, fused, clock, deps.onDroppedHits);
      const { hits, rows } = input;
      const budgets = { maxChunks: query.maxChunks, maxTokens: query.maxTokens };
      const assembled = await clock.step("assemble", () =>
        deps.assembleContext !== undefined
          ? deps.assembleContext({ ...input, ...budgets })
          : Promise.resolve(
              assembleContext({
                ...input,
                ...budgets,
                countTokens: (text, limit) => embedder.countTokens(text, limit),
              }),
            ),
      );
      if (assembled.chunks.length === 0 && hits.length > 0) {
        const best = rows.find((row) => row.id === hits[0].id);
        // Counted up to the largest budget a caller may ask for: the figure is for the message.
        const needed = best === undefined ? 0 : embedder.countTokens(renderContext([best]), query.maxTokens * 4);
        throw new InvalidArgumentError(
          "max_tokens",
          `is ${query.maxTokens}; the most relevant chunk alone needs ${needed} tokens`,
        );
      }
      deps.onStepTimings?.(timings);
      return { ...assembled, insufficientContext: assembled.chunks.length === 0, relevanceFloor };
    },

    async search(query) {
      const vector = query.vector ?? (await embedder.embed([{ text: query.text ?? "" }], { signal: query.signal }))[0];
      const hits = await pageOfHits(query, vector);
      if (hits.length === 0) {
        return [];
      }
      // One query for the whole page, scoped to the catalog again: Postgres is the truth.
      const rows = new Map(
        (
          await metadata.getRows(
            hits.map((hit) => hit.id),
            { catalogId: query.filter.catalogId },
          )
        ).map((row) => [row.id, row]),
      );
      // The row decides the status too: a status change commits in Postgres before Qdrant's payload follows.
      const statuses =
        query.filter.statuses !== undefined && query.filter.statuses.length > 0
          ? query.filter.statuses
          : ["pending", "accepted"];
      const result: SearchHit[] = [];
      for (const hit of hits) {
        const row = rows.get(hit.id);
        if (row !== undefined && statuses.includes(row.status)) {
          result.push({ row, score: hit.score });
        }
      }
      const dropped = hits.length - result.length;
      if (dropped > 0) {
        logger.warn(
          { dropped, catalogId: query.filter.catalogId },
          "search hits without a Postgres row were dropped; reconcile will repair them",
        );
        deps.onDroppedHits?.(dropped);
      }
      return result;
    },
  };
}

/**
 * The rows a context is assembled from, all within the catalog, in ONE query as a rule: the hits' rows;
 * the table and key-column chunks of the best candidate tables (ranked from the hits' payloads); and
 * the other listed columns of the best `FULL_TABLES` of them: a question names values ("in Aruba") far
 * more often than the column that holds them, and the SQL needs that column. A second query follows
 * only for tables that bridge the best ones by foreign keys (read from their key columns), or when the
 * rows rank the best tables differently than the payloads did (a hit whose row is gone or rejected:
 * dropped and reported).
 */
async function contextRows(
  metadata: MetadataStore,
  query: ContextQuery,
  fused: HybridHits["hits"],
  clock: ReturnType<typeof stepClock>,
  onDroppedHits: ((count: number) => void) | undefined,
): Promise<Omit<AssembleInput, "countTokens" | "maxChunks" | "maxTokens">> {
  const tables = clock.sync("rank", () => {
    const places = new Map(fused.map((hit) => [hit.id, placeOf(hit.payload)]));
    return rankTables(fused, places)
      .slice(0, CONTEXT_TABLES)
      .map((table) => ({ schema: table.schema, table: table.table }));
  });
  const ids = fused.map((hit) => hit.id);
  const columnsOf = (whole: readonly TableRef[]) => ({ tables: whole, maxPerTable: FULL_TABLE_COLUMNS });
  const fetched = await clock.step("postgres", () =>
    metadata.getContextRows(query.catalogId, { ids, tables, columnsOf: columnsOf(tables.slice(0, FULL_TABLES)) }),
  );
  const { hits, rows, listed, chosen, missing, bridges } = clock.sync("rank", () => {
    const hitIds = new Set(ids);
    // The other columns apart: the rest is what hits, tables and joins are ranked and bridged from.
    const isListed = (row: EmbeddingRow) => row.kind === "column" && !hitIds.has(row.id) && !isKeyColumn(row);
    const rows = fetched.filter((row) => !isListed(row));
    const present = new Set(rows.map((row) => row.id));
    const hits = fused.filter((hit) => present.has(hit.id));
    const chosen = rankTables(hits, new Map(rows.map((row) => [row.id, row]))).slice(0, FULL_TABLES);
    const fetchedFor = new Set(tables.slice(0, FULL_TABLES).map(tableKey));
    return {
      hits,
      rows,
      listed: fetched.filter(isListed),
      chosen,
      missing: chosen.filter((table) => !fetchedFor.has(tableKey(table))),
      bridges: findBridgeTables(chosen, rows),
    };
  });
  if (hits.length < fused.length) {
    onDroppedHits?.(fused.length - hits.length);
  }
  const extra =
    bridges.length === 0 && missing.length === 0
      ? []
      : await clock.step("postgres", () =>
          metadata.getContextRows(query.catalogId, { ids: [], tables: bridges, columnsOf: columnsOf(missing) }),
        );
  const chosenKeys = new Set(chosen.map(tableKey));
  const isChosen = (row: EmbeddingRow) =>
    chosenKeys.has(tableKey({ schema: row.schemaName ?? "", table: row.tableName ?? "" }));
  const present = new Set(rows.map((row) => row.id));
  const added = extra.filter((row) => !present.has(row.id));
  return {
    hits,
    rows,
    bridgeRows: added.filter((row) => !isChosen(row)),
    columnRows: [...listed, ...added].filter(isChosen),
  };
}

/** A catalog column chunk a join needs: a primary key or a foreign key (as getContextRows selects them). */
function isKeyColumn(row: EmbeddingRow): boolean {
  const references = row.metadata.references;
  return (
    String(row.metadata.primaryKey) === "true" ||
    (typeof references === "object" && references !== null && !Array.isArray(references))
  );
}

function tableKey(table: TableRef): string {
  return `${table.schema}\u0000${table.table}`;
}

/** Where a hit's chunk sits, from its payload: enough to rank tables before any row is read. */
function placeOf(payload: HitPayload): ChunkPlace {
  return { kind: payload.kind, schemaName: payload.schema, tableName: payload.table };
}
