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
  /** The other column chunks of the best tables: offered after their hits and keys. */
  columnRows?: readonly EmbeddingRow[];
  maxChunks: number;
  maxTokens: number;
  /** Tokens of a text, counting stopped once past `limit` (a budget check costs at most the budget). */
  countTokens: (text: string, limit?: number) => number;
}

/** How much a table's columns add to its own evidence: the best three, each at this weight. */
const COLUMN_EVIDENCE_WEIGHT = 0.5;
const COLUMN_EVIDENCE_COUNT = 3;
/**
 * How much a table's schema counts: its schema's evidence (the sum of its best three tables'), relative
 * to the strongest schema's, scales the table's own by 1 - w + w x that ratio; a table of a schema with
 * half the best schema's evidence keeps 1 - w/2 of its score. No effect within one schema.
 */
const SCHEMA_EVIDENCE_WEIGHT = 0.6;
const SCHEMA_EVIDENCE_COUNT = 3;
/** The share of its table's evidence a direct hit's relevance adds. */
const TABLE_EVIDENCE_SHARE = 0.1;

/** Priority of a chosen table's key columns, and of its other columns, relative to the table's evidence. */
const KEY_COLUMN_WEIGHT = 0.5;
const OTHER_COLUMN_WEIGHT = 0.45;

const tableKey = (schema: string | null, table: string | null) => `${schema ?? ""}\u0000${table ?? ""}`;

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
 * SCHEMA_EVIDENCE_WEIGHT). `assembleContext` then fills the budgets best-first: each chosen table's
 * chunk, the columns that matched, the key columns joins need, the best tables' other columns, and
 * tables that bridge two chosen tables by foreign keys. Chunks come out grouped by table, in table order.
 */
export function rankTables(hits: readonly RankedHit[], rows: ReadonlyMap<string, EmbeddingRow>): RankedTable[] {
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
  const scored = [...evidence.entries()].map(([key, entry]) => {
    const columns = entry.columns.sort((a, b) => b - a).slice(0, COLUMN_EVIDENCE_COUNT);
    return {
      key,
      schema: entry.schema,
      table: entry.table,
      score: entry.own + COLUMN_EVIDENCE_WEIGHT * columns.reduce((sum, score) => sum + score, 0),
    };
  });
  // A question is about one schema far more often than about several: a table of the schema with the
  // most evidence (its best tables together) outranks an equally matching table of a weaker schema.
  const schemas = new Map<string, number[]>();
  for (const table of scored) {
    schemas.set(table.schema, [...(schemas.get(table.schema) ?? []), table.score]);
  }
  const schemaScore = new Map(
    [...schemas].map(([schema, scores]) => [
      schema,
      scores
        .sort((a, b) => b - a)
        .slice(0, SCHEMA_EVIDENCE_COUNT)
        .reduce((sum, score) => sum + score, 0),
    ]),
  );
  const best = Math.max(0, ...schemaScore.values());
  return scored
    .map((table) => {
      const schemaFactor =
        best <= 0
          ? 1
          : 1 - SCHEMA_EVIDENCE_WEIGHT + (SCHEMA_EVIDENCE_WEIGHT * (schemaScore.get(table.schema) ?? 0)) / best;
      return { ...table, score: table.score * schemaFactor, schemaFactor };
    })
    .sort((a, b) => b.score - a.score || compareText(a.key, b.key));
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function assembleContext(input: AssembleInput): AssembledContext {
  const rowsById = new Map(
    [...input.rows, ...(input.bridgeRows ?? []), ...(input.columnRows ?? [])].map((row) => [row.id, row]),
  );
  const hitScore = new Map(input.hits.map((hit) => [hit.id, hit.score]));
  const ranked = rankTables(input.hits, rowsById);

  // Candidate items with a priority; greedy best-first fill under both budgets.
  interface Item {
    row: EmbeddingRow;
    score: number;
    reason: InclusionReason;
    priority: number;
    /** Position of a column in its table, so equal priorities keep catalog order. */
    position: number;
  }
  const items: Item[] = [];
  const position = columnPositions(rowsById.values());
  const tableScore = new Map(ranked.map((table) => [table.key, table.score]));
  const schemaFactor = new Map(ranked.map((table) => [table.key, table.schemaFactor]));
  const tableRank = new Map(ranked.map((table, index) => [table.key, index]));
  const bridgeIds = new Set((input.bridgeRows ?? []).map((row) => row.id));
  const otherColumnIds = new Set((input.columnRows ?? []).map((row) => row.id));
  for (const row of rowsById.values()) {
    const key = tableKey(row.schemaName, row.tableName);
    const direct = hitScore.get(row.id);
    const ownTable = tableScore.get(key) ?? 0;
    const at = position(row);
    if (bridgeIds.has(row.id) && direct === undefined) {
      items.push({ row, score: 0, reason: "join_bridge", priority: bridgePriority(row, ranked), position: at });
    } else if (direct !== undefined) {
      // A direct hit ranks with its table's evidence, so a table's matches stay together. Its relevance
      // is its own fused score weighted by its schema's standing, plus a share of its table's evidence:
      // a column of the table the question is about is likelier needed than an equal match elsewhere.
      const relevance =
        row.tableName === null ? direct : direct * (schemaFactor.get(key) ?? 1) + TABLE_EVIDENCE_SHARE * ownTable;
      items.push({
        row,
        score: relevance,
        reason: "direct_hit",
        priority: row.tableName === null ? direct : ownTable + direct * 0.01,
        position: at,
      });
    } else if (row.kind === "table") {
      items.push({ row, score: 0, reason: "table_context", priority: ownTable, position: at });
    } else if (otherColumnIds.has(row.id)) {
      items.push({ row, score: 0, reason: "table_context", priority: ownTable * OTHER_COLUMN_WEIGHT, position: at });
    } else {
      items.push({ row, score: 0, reason: "key_column", priority: ownTable * KEY_COLUMN_WEIGHT, position: at });
    }
  }
  // Last by content, not id: ids are per catalog, and equal catalogs must give equal contexts.
  items.sort(
    (a, b) =>
      b.priority - a.priority ||
      a.position - b.position ||
      compareText(a.row.content, b.row.content) ||
      compareText(a.row.id, b.row.id),
  );

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
    const block = [
      ...chosen
        .filter((entry) => tableKey(entry.row.schemaName, entry.row.tableName) === key)
        .map((entry) => entry.row),
      item.row,
    ];
    const previous = item.row.tableName === null ? 0 : (blockTokens.get(key) ?? 0);
    // Counting stops past what is left of the budget: a chunk that cannot fit costs no more than that.
    const room = input.maxTokens - estimate + previous;
    const cost =
      item.row.tableName === null
        ? input.countTokens(renderContext([item.row]), room) + 1
        : input.countTokens(renderTable(block), room) + 2;
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
  while (
    chosen.length > 0 &&
    input.countTokens(renderContext(chosen.map((entry) => entry.row)), input.maxTokens) > input.maxTokens
  ) {
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
    return (
      (tableRank.get(a) ?? Number.MAX_SAFE_INTEGER) - (tableRank.get(b) ?? Number.MAX_SAFE_INTEGER) ||
      (tableScore.get(b) ?? 0) - (tableScore.get(a) ?? 0)
    );
  });
  const chunks: ContextChunk[] = [];
  const tables: ContextTable[] = [];
  for (const key of orderedKeys) {
    const group = (groups.get(key) ?? []).sort((a, b) =>
      a.row.kind === "table" ? -1 : b.row.kind === "table" ? 1 : b.score - a.score,
    );
    for (const item of group) {
      chunks.push({
        row: item.row,
        score: item.score,
        reason: item.reason,
        tokens: input.countTokens(item.row.content, input.maxTokens),
      });
    }
    const first = group[0].row;
    if (first.tableName !== null) {
      const isBridge = group.every((item) => item.reason === "join_bridge");
      tables.push({
        schema: first.schemaName ?? "",
        table: first.tableName,
        score: tableScore.get(key) ?? 0,
        reason: isBridge
          ? "join_bridge"
          : group.some((item) => item.reason === "direct_hit" && item.row.kind === "table")
            ? "direct_hit"
            : "table_context",
        chunkIds: group.map((item) => item.row.id),
      });
    }
  }
  const text = renderContext(chunks.map((chunk) => chunk.row));
  return { tables, chunks, text, tokens: input.countTokens(text, input.maxTokens), truncated };
}

/** A column row's position in its table's column list (from the table chunk's metadata), else last. */
function columnPositions(rows: Iterable<EmbeddingRow>): (row: EmbeddingRow) => number {
  const positions = new Map<string, number>();
  for (const row of rows) {
    if (row.kind !== "table" || !Array.isArray(row.metadata.columns)) {
      continue;
    }
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

function bridgePriority(row: EmbeddingRow, ranked: ReadonlyArray<{ score: number }>): number {
  // Below every chosen table's own chunks, above nothing: bridges fill what budget is left.
  const weakest = ranked.length === 0 ? 0 : ranked[Math.min(ranked.length - 1, 2)].score;
  return weakest * (row.kind === "table" ? 0.4 : 0.3);
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
