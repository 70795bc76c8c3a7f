import type { EmbeddingRow } from "../types.js";
import { renderContext, renderTable } from "./render.js";

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

export interface AssembleInput {
  /** Fused hits, best first. */
  hits: readonly RankedHit[];
  /** Rows of the hits and of the candidate tables' table and key-column chunks. */
  rows: readonly EmbeddingRow[];
  /** Rows of join-bridge tables (their table and key-column chunks). */
  bridgeRows?: readonly EmbeddingRow[];
  maxChunks: number;
  maxTokens: number;
  countTokens: (text: string) => number;
}

/** How much a table's columns add to its own evidence: the best three, each at this weight. */
const COLUMN_EVIDENCE_WEIGHT = 0.5;
const COLUMN_EVIDENCE_COUNT = 3;

const tableKey = (schema: string | null, table: string | null) => `${schema ?? ""}\u0000${table ?? ""}`;

/**
 * Ranks tables by their own and their columns' evidence, then fills the budgets best-first: each chosen
 * table's chunk, the columns that matched, the key columns joins need, and tables that bridge two chosen
 * tables by foreign keys. Chunks come out grouped by table, in table order.
 */
export function rankTables(hits: readonly RankedHit[], rows: ReadonlyMap<string, EmbeddingRow>): Array<{ key: string; schema: string; table: string; score: number }> {
  const evidence = new Map<string, { schema: string; table: string; own: number; columns: number[] }>();
  for (const hit of hits) {
    const row = rows.get(hit.id);
    if (row === undefined || row.tableName === null) {
      continue;
    }
    const key = tableKey(row.schemaName, row.tableName);
    const entry = evidence.get(key) ?? { schema: row.schemaName ?? "", table: row.tableName, own: 0, columns: [] };
    if (row.kind === "table") {
      entry.own = Math.max(entry.own, hit.score);
    } else {
      entry.columns.push(hit.score);
    }
    evidence.set(key, entry);
  }
  return [...evidence.entries()]
    .map(([key, entry]) => {
      const columns = entry.columns.sort((a, b) => b - a).slice(0, COLUMN_EVIDENCE_COUNT);
      return { key, schema: entry.schema, table: entry.table, score: entry.own + COLUMN_EVIDENCE_WEIGHT * columns.reduce((sum, score) => sum + score, 0) };
    })
    .sort((a, b) => b.score - a.score);
}

export function assembleContext(input: AssembleInput): AssembledContext {
  const rowsById = new Map([...input.rows, ...(input.bridgeRows ?? [])].map((row) => [row.id, row]));
  const hitScore = new Map(input.hits.map((hit) => [hit.id, hit.score]));
  const ranked = rankTables(input.hits, rowsById);

  // Candidate items with a priority; greedy best-first fill under both budgets.
  interface Item {
    row: EmbeddingRow;
    score: number;
    reason: InclusionReason;
    priority: number;
  }
  const items: Item[] = [];
  const tableScore = new Map(ranked.map((table) => [table.key, table.score]));
  const tableRank = new Map(ranked.map((table, index) => [table.key, index]));
  const bridgeIds = new Set((input.bridgeRows ?? []).map((row) => row.id));
  for (const row of rowsById.values()) {
    const key = tableKey(row.schemaName, row.tableName);
    const direct = hitScore.get(row.id);
    const ownTable = tableScore.get(key) ?? 0;
    if (bridgeIds.has(row.id) && direct === undefined) {
      items.push({ row, score: 0, reason: "join_bridge", priority: bridgePriority(row, ranked) });
    } else if (direct !== undefined) {
      // A direct hit ranks with its table's evidence, so a table's matches stay together.
      items.push({ row, score: direct, reason: "direct_hit", priority: row.tableName === null ? direct : ownTable + direct * 0.01 });
    } else if (row.kind === "table") {
      items.push({ row, score: 0, reason: "table_context", priority: ownTable });
    } else {
      items.push({ row, score: 0, reason: "key_column", priority: ownTable * 0.5 });
    }
  }
  items.sort((a, b) => b.priority - a.priority || a.row.id.localeCompare(b.row.id));

  // Token cost is estimated per table block (rendering a table's chunks together), so filling is linear;
  // the final text is counted once and trimmed if the estimate fell short.
  const chosen: Item[] = [];
  const blockTokens = new Map<string, number>();
  let estimate = 0;
  let truncated = false;
  for (const item of items) {
    if (chosen.length >= input.maxChunks) {
      truncated = true;
      continue;
    }
    const key = tableKey(item.row.schemaName, item.row.tableName);
    const block = [...chosen.filter((entry) => tableKey(entry.row.schemaName, entry.row.tableName) === key).map((entry) => entry.row), item.row];
    const cost = item.row.tableName === null ? input.countTokens(renderContext([item.row])) + 1 : input.countTokens(renderTable(block)) + 2;
    const previous = item.row.tableName === null ? 0 : blockTokens.get(key) ?? 0;
    if (estimate - previous + cost > input.maxTokens) {
      truncated = true;
      continue;
    }
    estimate += cost - previous;
    if (item.row.tableName !== null) {
      blockTokens.set(key, cost);
    }
    chosen.push(item);
  }
  while (chosen.length > 0 && input.countTokens(renderContext(chosen.map((entry) => entry.row))) > input.maxTokens) {
    chosen.pop();
    truncated = true;
  }

  // Group by table in table order (tables without a rank, e.g. bridges, after ranked ones), best first within.
  const groups = new Map<string, Item[]>();
  for (const item of chosen) {
    const key = tableKey(item.row.schemaName, item.row.tableName);
    groups.set(key, [...(groups.get(key) ?? []), item]);
  }
  const orderedKeys = [...groups.keys()].sort((a, b) => {
    const noTable = (key: string) => key === tableKey(null, null);
    if (noTable(a) !== noTable(b)) {
      return noTable(a) ? 1 : -1;
    }
    return (tableRank.get(a) ?? Number.MAX_SAFE_INTEGER) - (tableRank.get(b) ?? Number.MAX_SAFE_INTEGER) || (tableScore.get(b) ?? 0) - (tableScore.get(a) ?? 0);
  });
  const chunks: ContextChunk[] = [];
  const tables: ContextTable[] = [];
  for (const key of orderedKeys) {
    const group = (groups.get(key) ?? []).sort((a, b) => (a.row.kind === "table" ? -1 : b.row.kind === "table" ? 1 : b.score - a.score));
    for (const item of group) {
      chunks.push({ row: item.row, score: item.score, reason: item.reason, tokens: input.countTokens(item.row.content) });
    }
    const first = group[0].row;
    if (first.tableName !== null) {
      const isBridge = group.every((item) => item.reason === "join_bridge");
      tables.push({
        schema: first.schemaName ?? "",
        table: first.tableName,
        score: tableScore.get(key) ?? 0,
        reason: isBridge ? "join_bridge" : group.some((item) => item.reason === "direct_hit" && item.row.kind === "table") ? "direct_hit" : "table_context",
        chunkIds: group.map((item) => item.row.id),
      });
    }
  }
  const text = renderContext(chunks.map((chunk) => chunk.row));
  return { tables, chunks, text, tokens: input.countTokens(text), truncated };
}

function bridgePriority(row: EmbeddingRow, ranked: ReadonlyArray<{ score: number }>): number {
  // Below every chosen table's own chunks, above nothing: bridges fill what budget is left.
  const weakest = ranked.length === 0 ? 0 : ranked[Math.min(ranked.length - 1, 2)].score;
  return weakest * (row.kind === "table" ? 0.4 : 0.3);
}

/**
 * Tables outside `chosen` that link two chosen tables by foreign keys: read from the key columns'
 * `references` (this column points at a table) and `referencedBy` (these columns point here).
 */
export function findBridgeTables(chosen: ReadonlyArray<{ schema: string; table: string }>, rows: readonly EmbeddingRow[]): Array<{ schema: string; table: string }> {
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
