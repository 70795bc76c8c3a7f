import type { EmbeddingRow } from "../types.js";
import {
  columnEntry,
  columnListLine,
  looseLine,
  NO_COLUMN_DETAILS,
  renderContext,
  TABLE_CLOSING,
  tableComment,
  tableOpening,
} from "./render.js";

export type InclusionReason = "direct_hit" | "key_column" | "join_bridge" | "table_context";

export interface ContextChunk {
  row: EmbeddingRow;
  score: number;
  reason: InclusionReason;
  tokens: number;
}

export interface ContextTable {
  schema: string;
  table: string;
  score: number;
  reason: InclusionReason;
  chunkIds: string[];
}

export interface AssembledContext {
  tables: ContextTable[];
  chunks: ContextChunk[];
  text: string;
  tokens: number;
  truncated: boolean;
}

export interface RankedHit {
  id: string;
  score: number;
}

/** Where a chunk sits, all that ranking needs: a row, or a hit's payload before its row is read. */
export type ChunkPlace = Pick<EmbeddingRow, "kind" | "schemaName" | "tableName">;

export interface AssembleInput {
  /** Fused hits, best first. */
  hits: readonly RankedHit[];
  /** Rows of the hits and of the candidate tables' table and key-column chunks. */
  rows: readonly EmbeddingRow[];
  /** Rows of join-bridge tables (their table and key-column chunks). */
  bridgeRows?: readonly EmbeddingRow[];
  /** The other column chunks of the best tables: offered after their hits and keys. */
  columnRows?: readonly EmbeddingRow[];
  maxChunks: number;
  maxTokens: number;
  /** Tokens of a text, counting stopped once past `limit` (a budget check costs at most the budget). */
  countTokens: (text: string, limit?: number) => number;
}

/**
 * The weights of table ranking and of the order the budgets are filled in. A table's evidence is its
 * own fused score plus `columnEvidence` x each of its best `columnEvidenceCount` column hits'. A schema's
 * evidence is the sum of its best `schemaEvidenceCount` tables'; relative to the strongest schema's it
 * scales a table's evidence by 1 - w + w x that ratio (w = `schemaEvidence`): a table of a schema with
 * half the best schema's evidence keeps 1 - w/2 of its score; no effect within one schema.
 */
export const RANKING = {
  columnEvidence: 0.5,
  columnEvidenceCount: 3,
  schemaEvidence: 0.6,
  schemaEvidenceCount: 3,
  /** The share of its table's evidence a direct hit's relevance adds. */
  tableEvidenceShare: 0.1,
} as const;

/** Fill priorities, as shares of the chunk's table's evidence. */
export const FILL_PRIORITY = {
  /** A direct hit: its table's evidence plus this share of its own score, so a table's hits lead it. */
  hitOwnScore: 0.01,
  /** Key columns of a candidate table, which joins need. */
  keyColumn: 0.5,
  /** The best tables' other columns (values in a question name them only indirectly). */
  otherColumn: 0.45,
  /** Bridge tables' chunks, as shares of the weakest of the best three tables: they fill what is left. */
  bridgeTable: 0.4,
  bridgeColumn: 0.3,
} as const;
/** Bridges are weighed against this ranked table (0-based): the last of the best three. */
const BRIDGE_REFERENCE_RANK = 2;
/** Tokens a line break adds ("\n", or ",\n" after a column), and a blank line between blocks. */
const LINE_BREAK_TOKENS = 1;
const BLOCK_BREAK_TOKENS = 1;

const tableKey = (schema: string | null, table: string | null) => `${schema ?? ""}\u0000${table ?? ""}`;
const LOOSE_KEY = tableKey(null, null);

export interface RankedTable {
  key: string;
  schema: string;
  table: string;
  /** Its evidence: its own and its best columns' fused scores, weighted by its schema's standing. */
  score: number;
  /** Its schema's standing, 1 - w to 1 (1 for the schema with the most evidence). */
  schemaFactor: number;
}

/**
 * Ranks tables by their own and their columns' evidence, weighted by their schema's standing (see
 * RANKING). `assembleContext` then fills the budgets best-first: each chosen table's chunk, the
 * columns that matched, the key columns joins need, the best tables' other columns, and tables that
 * bridge two chosen tables by foreign keys. Chunks come out grouped by table, in table order.
 */
export function rankTables(hits: readonly RankedHit[], places: ReadonlyMap<string, ChunkPlace>): RankedTable[] {
  const evidence = new Map<string, { schema: string; table: string; own: number; columns: number[] }>();
  for (const hit of hits) {
    const place = places.get(hit.id);
    if (place === undefined || place.tableName === null) continue;
    const key = tableKey(place.schemaName, place.tableName);
    let entry = evidence.get(key);
    if (entry === undefined) {
      entry = { schema: place.schemaName ?? "", table: place.tableName, own: 0, columns: [] };
      evidence.set(key, entry);
    }
    if (place.kind === "table") entry.own = Math.max(entry.own, hit.score);
    else entry.columns.push(hit.score);
  }
  const scored = [...evidence].map(([key, entry]) => ({
    key,
    schema: entry.schema,
    table: entry.table,
    score: entry.own + RANKING.columnEvidence * sumOfBest(entry.columns, RANKING.columnEvidenceCount),
  }));
  // A question is about one schema far more often than about several: a table of the schema with the
  // most evidence (its best tables together) outranks an equally matching table of a weaker schema.
  const bySchema = groupBy(scored, (table) => table.schema);
  const schemaScore = new Map(
    [...bySchema].map(([schema, tables]) => [
      schema,
      sumOfBest(
        tables.map((table) => table.score),
        RANKING.schemaEvidenceCount,
      ),
    ]),
  );
  const best = Math.max(0, ...schemaScore.values());
  const w = RANKING.schemaEvidence;
  return scored
    .map((table) => {
      const schemaFactor = best <= 0 ? 1 : 1 - w + (w * (schemaScore.get(table.schema) ?? 0)) / best;
      return { ...table, score: table.score * schemaFactor, schemaFactor };
    })
    .sort((a, b) => b.score - a.score || compareText(a.key, b.key));
}

/** A chunk offered to the context, with the priority it is offered in. */
interface Item {
  row: EmbeddingRow;
  score: number;
  reason: InclusionReason;
  priority: number;
  /** Position of a column in its table (-1 for others), so equal priorities keep catalog order. */
  position: number;
}

/**
 * Fills `maxChunks` and `maxTokens` best-first, then groups what fits by table in table order. Each
 * chunk's piece of the text is counted once, when the fill reaches it, and the final text once more
 * (a join of the same pieces: only line breaks can count differently, and a text over budget sheds
 * its last chunks).
 */
export function assembleContext(input: AssembleInput): AssembledContext {
  const rows = new Map(
    [...input.rows, ...(input.bridgeRows ?? []), ...(input.columnRows ?? [])].map((row) => [row.id, row]),
  );
  const ranked = rankTables(input.hits, rows);
  const items = offer(input, rows, ranked).sort(byPriority);
  // Every token is at least one byte of UTF-8, so a fill charged bytes that turns nothing away is the
  // fill exact counts would make: counting is then left to the final text (the usual case, a context
  // well under its budget). Otherwise the fill is made again with each piece's tokens.
  const bounded = fill(items, input.maxChunks, input.maxTokens, utf8Bytes);
  const chosen = bounded.rejected ? fill(items, input.maxChunks, input.maxTokens, input.countTokens) : bounded;
  for (let spare = 1; ; spare *= 2) {
    const ordered = groupByTable(chosen, ranked);
    const text = renderContext(ordered.map((item) => item.row));
    const tokens = input.countTokens(text);
    if (tokens <= input.maxTokens || chosen.length === 0) {
      return present(ordered, ranked, { text, tokens, truncated: chosen.length < items.length }, input);
    }
    // Rarely: line breaks counted more than estimated. Shed the last chunks, twice as many each time.
    shed(chosen, (tokens - input.maxTokens) * spare);
  }
}

/** Every row as an item: its reason, its relevance (direct hits only) and its fill priority. */
function offer(input: AssembleInput, rows: ReadonlyMap<string, EmbeddingRow>, ranked: RankedTable[]): Item[] {
  const hitScore = new Map(input.hits.map((hit) => [hit.id, hit.score]));
  const tables = new Map(ranked.map((table) => [table.key, table]));
  const bridgeIds = new Set((input.bridgeRows ?? []).map((row) => row.id));
  const otherColumnIds = new Set((input.columnRows ?? []).map((row) => row.id));
  const bridgeReference = ranked[Math.min(ranked.length - 1, BRIDGE_REFERENCE_RANK)]?.score ?? 0;
  const position = columnPositions(rows.values());
  return [...rows.values()].map((row): Item => {
    const direct = hitScore.get(row.id);
    const table = tables.get(tableKey(row.schemaName, row.tableName));
    const evidence = table?.score ?? 0;
    const item = (reason: InclusionReason, priority: number, score = 0) =>
      ({ row, score, reason, priority, position: position(row) }) satisfies Item;
    if (direct === undefined && bridgeIds.has(row.id)) {
      const share = row.kind === "table" ? FILL_PRIORITY.bridgeTable : FILL_PRIORITY.bridgeColumn;
      return item("join_bridge", bridgeReference * share);
    }
    if (direct !== undefined && row.tableName === null) return item("direct_hit", direct, direct);
    if (direct !== undefined) {
      // Its own fused score weighted by its schema's standing, plus a share of its table's evidence: a
      // column of the table the question is about is likelier needed than an equal match elsewhere.
      const relevance = direct * (table?.schemaFactor ?? 1) + RANKING.tableEvidenceShare * evidence;
      return item("direct_hit", evidence + FILL_PRIORITY.hitOwnScore * direct, relevance);
    }
    if (row.kind === "table") return item("table_context", evidence);
    if (otherColumnIds.has(row.id)) return item("table_context", evidence * FILL_PRIORITY.otherColumn);
    return item("key_column", evidence * FILL_PRIORITY.keyColumn);
  });
}

/** Higher priority first; then catalog order of columns; then content and id (ids differ per catalog). */
function byPriority(a: Item, b: Item): number {
  return (
    b.priority - a.priority ||
    a.position - b.position ||
    compareText(a.row.content, b.row.content) ||
    compareText(a.row.id, b.row.id)
  );
}

/** Tokens a block holds beyond its chunks' own pieces, by what is in it (see renderTable). */
interface Block {
  hasTable: boolean;
  columns: number;
  /** Tokens of the line standing in for columns while there are none (column list or "no details"). */
  filler: number;
}

/**
 * Best-first under both budgets, each item's piece counted once (against what is left of the budget).
 * `rejected` says whether the token budget turned an item away.
 */
function fill(
  items: readonly Item[],
  maxChunks: number,
  maxTokens: number,
  count: AssembleInput["countTokens"],
): Array<Item & { cost: number }> & { rejected: boolean } {
  const blocks = new Map<string, Block>();
  const chosen = Object.assign([] as Array<Item & { cost: number }>, { rejected: false });
  let used = 0;
  for (const item of items) {
    if (chosen.length >= maxChunks) break;
    const added = cost(item, blocks, maxTokens - used, count);
    if (used + added.tokens <= maxTokens) {
      used += added.tokens;
      added.commit();
      chosen.push({ ...item, cost: added.tokens });
    } else {
      chosen.rejected = true;
    }
  }
  return chosen;
}

/** An upper bound of a text's tokens in any byte-level BPE: its UTF-8 length. */
function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** What adding `item` costs, given its block so far; `commit` records it in the block. */
function cost(
  item: Item,
  blocks: Map<string, Block>,
  room: number,
  count: AssembleInput["countTokens"],
): { tokens: number; commit: () => void } {
  const { row } = item;
  if (row.tableName === null) {
    return { tokens: count(looseLine(row), room) + BLOCK_BREAK_TOKENS, commit: () => undefined };
  }
  const key = tableKey(row.schemaName, row.tableName);
  const existing = blocks.get(key);
  const opening =
    existing === undefined
      ? count(`${tableOpening(row.schemaName, row.tableName)}\n${TABLE_CLOSING}`, room) +
        LINE_BREAK_TOKENS +
        BLOCK_BREAK_TOKENS
      : 0;
  const before = existing ?? { hasTable: false, columns: 0, filler: 0 };
  const after = { ...before };
  let piece: number;
  if (row.kind === "table") {
    piece = count(tableComment(row), room);
    after.hasTable = true;
  } else if (row.kind === "column") {
    piece = count(columnEntry(row), room) + LINE_BREAK_TOKENS;
    after.columns++;
  } else {
    piece = count(looseLine(row), room) + LINE_BREAK_TOKENS;
  }
  if (after.columns > 0) after.filler = 0;
  else if (after.hasTable !== before.hasTable || existing === undefined) {
    const line = after.hasTable ? columnListLine(row) : NO_COLUMN_DETAILS;
    after.filler = line === "" ? 0 : count(line, room) + LINE_BREAK_TOKENS;
  }
  return {
    tokens: opening + piece + after.filler - before.filler,
    commit: () => blocks.set(key, after),
  };
}

/** Drops chosen items from the end (the lowest priorities) until their costs add up to `tokens`. */
function shed(chosen: Array<Item & { cost: number }>, tokens: number): void {
  let freed = 0;
  while (chosen.length > 0 && freed < tokens) freed += Math.max(1, chosen.pop()!.cost);
}

/** Chunks grouped by table: ranked tables first in rank order, then the others, loose chunks last. */
function groupByTable<T extends Item>(chosen: readonly T[], ranked: readonly RankedTable[]): T[] {
  const rank = new Map(ranked.map((table, index) => [table.key, index]));
  const unranked = ranked.length;
  const groupRank = (key: string) => (key === LOOSE_KEY ? unranked + 1 : (rank.get(key) ?? unranked));
  const arrival = new Map(chosen.map((item, index) => [item, index]));
  const keyOf = (item: Item) => tableKey(item.row.schemaName, item.row.tableName);
  const groups = groupBy(chosen, keyOf);
  // Unranked tables (bridges) in the order their first chunk was chosen.
  const firstArrival = (key: string) => arrival.get(groups.get(key)![0])!;
  const keys = [...groups.keys()].sort((a, b) => groupRank(a) - groupRank(b) || firstArrival(a) - firstArrival(b));
  // Within a table: its table chunk, then by relevance, then in the order they were chosen.
  const tableFirst = (item: Item) => (item.row.kind === "table" ? 0 : 1);
  return keys.flatMap((key) =>
    groups
      .get(key)!
      .sort((a, b) => tableFirst(a) - tableFirst(b) || b.score - a.score || arrival.get(a)! - arrival.get(b)!),
  );
}

/** The answer: chunks with their tokens (each content counted once), and tables with their reasons. */
function present(
  ordered: readonly Item[],
  ranked: readonly RankedTable[],
  context: { text: string; tokens: number; truncated: boolean },
  input: AssembleInput,
): AssembledContext {
  const tableScore = new Map(ranked.map((table) => [table.key, table.score]));
  const chunks = ordered.map(({ row, score, reason }) => ({
    row,
    score,
    reason,
    tokens: input.countTokens(row.content, input.maxTokens),
  }));
  const tables: ContextTable[] = [];
  for (const [key, group] of groupBy(ordered, (item) => tableKey(item.row.schemaName, item.row.tableName))) {
    if (key === LOOSE_KEY) continue;
    const first = group[0].row;
    const reason = group.every((item) => item.reason === "join_bridge")
      ? "join_bridge"
      : group.some((item) => item.reason === "direct_hit" && item.row.kind === "table")
        ? "direct_hit"
        : "table_context";
    tables.push({
      schema: first.schemaName ?? "",
      table: first.tableName ?? "",
      score: tableScore.get(key) ?? 0,
      reason,
      chunkIds: group.map((item) => item.row.id),
    });
  }
  return { tables, chunks, ...context };
}

/** A column row's position in its table's column list (from the table chunk's metadata), else last. */
function columnPositions(rows: Iterable<EmbeddingRow>): (row: EmbeddingRow) => number {
  const positions = new Map<string, number>();
  for (const row of rows) {
    if (row.kind !== "table" || !Array.isArray(row.metadata.columns)) continue;
    (row.metadata.columns as Array<{ name?: unknown }>).forEach((column, index) => {
      if (typeof column.name === "string") {
        positions.set(`${tableKey(row.schemaName, row.tableName)}\u0000${column.name}`, index);
      }
    });
  }
  return (row) =>
    row.kind === "column"
      ? (positions.get(`${tableKey(row.schemaName, row.tableName)}\u0000${String(row.metadata.column)}`) ??
        Number.MAX_SAFE_INTEGER)
      : -1;
}

/** Items by key, keys in first-seen order, items in their order (Map.groupBy arrives with Node 21). */
function groupBy<T>(items: Iterable<T>, keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return groups;
}

/** The sum of the `count` largest values. */
function sumOfBest(values: readonly number[], count: number): number {
  return [...values]
    .sort((a, b) => b - a)
    .slice(0, count)
    .reduce((sum, value) => sum + value, 0);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Tables outside `chosen` that link two chosen tables by foreign keys: read from the key columns'
 * `references` (this column points at a table) and `referencedBy` (these columns point here).
 */
export function findBridgeTables(
  chosen: ReadonlyArray<{ schema: string; table: string }>,
  rows: readonly EmbeddingRow[],
): Array<{ schema: string; table: string }> {
  const chosenKeys = new Set(chosen.map((table) => tableKey(table.schema, table.table)));
  const links = new Map<string, { schema: string; table: string; touches: Set<string> }>();
  const link = (other: { schema?: unknown; table?: unknown }, chosenKey: string) => {
    if (typeof other.schema !== "string" || typeof other.table !== "string") {
      return;
    }
    const key = tableKey(other.schema, other.table);
    if (chosenKeys.has(key)) {
      return;
    }
    const entry = links.get(key) ?? { schema: other.schema, table: other.table, touches: new Set<string>() };
    entry.touches.add(chosenKey);
    links.set(key, entry);
  };
  for (const row of rows) {
    const key = tableKey(row.schemaName, row.tableName);
    if (row.kind !== "column" || !chosenKeys.has(key)) {
      continue;
    }
    const references = row.metadata.references as { schema?: unknown; table?: unknown } | undefined;
    if (references !== undefined && references !== null) {
      link(references, key);
    }
    const referencedBy = row.metadata.referencedBy;
    if (Array.isArray(referencedBy)) {
      for (const other of referencedBy as Array<{ schema?: unknown; table?: unknown }>) {
        link(other, key);
      }
    }
  }
  return [...links.values()].filter((entry) => entry.touches.size >= 2).map(({ schema, table }) => ({ schema, table }));
}
