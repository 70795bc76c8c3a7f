import type { EmbeddingRow } from "../types.js";

/**
 * The context as DDL-like text a SQL-writing model reads well:
 *
 *   CREATE TABLE concerts.singer ( -- People who sing at concerts
 *     singer_id integer PRIMARY KEY,
 *     age integer, -- Age in years
 *     stadium_id integer REFERENCES concerts.stadium(stadium_id)
 *   );
 *
 * Facts come from the chunks' metadata as catalog indexing writes it; chunks written by hand (no such
 * metadata) are rendered as their content in a comment. Blocks are separated by a blank line.
 *
 * The pieces below are what each chunk adds to its block, so budgeting can count each piece once
 * (assemble.ts) and the text is those same pieces joined.
 */
export function renderContext(rows: readonly EmbeddingRow[]): string {
  const groups = new Map<string, EmbeddingRow[]>();
  const loose: EmbeddingRow[] = [];
  for (const row of rows) {
    if (row.tableName === null) {
      loose.push(row);
      continue;
    }
    const key = `${row.schemaName ?? ""}.${row.tableName}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [row]);
    else group.push(row);
  }
  return [...[...groups.values()].map(renderTable), ...loose.map(looseLine)].join("\n\n");
}

/** The text one table's chunks add: its CREATE TABLE block. */
export function renderTable(rows: readonly EmbeddingRow[]): string {
  const first = rows[0];
  const table = rows.find((row) => row.kind === "table");
  const columns = rows.filter((row) => row.kind === "column");
  const lines = [`${tableOpening(first.schemaName, first.tableName ?? "")}${table ? tableComment(table) : ""}`];
  columns.forEach((row, index) => lines.push(columnEntry(row, index < columns.length - 1)));
  if (columns.length === 0) {
    const filler = table === undefined ? NO_COLUMN_DETAILS : columnListLine(table);
    if (filler !== "") lines.push(filler);
  }
  lines.push(TABLE_CLOSING);
  for (const row of rows) {
    if (row.kind !== "column" && row.kind !== "table") lines.push(looseLine(row));
  }
  return lines.join("\n");
}

/** A block's first line without the table's description, and its last line. */
export function tableOpening(schema: string | null, table: string): string {
  return `CREATE TABLE ${qualified(schema, table)} (`;
}
export const TABLE_CLOSING = ");";

/** What a table chunk adds to its block's first line: its description, as a comment. */
export function tableComment(row: EmbeddingRow): string {
  const description = text(row.metadata.description);
  return description === "" ? "" : ` -- ${oneLine(description)}`;
}

/** The line a table chunk's block shows while no column chunk is in it: the column names it lists. */
export function columnListLine(row: EmbeddingRow): string {
  if (!Array.isArray(row.metadata.columns)) return "";
  const names = (row.metadata.columns as Array<{ name?: unknown }>)
    .map((column) => text(column.name))
    .filter((value) => value !== "");
  return `  -- columns: ${names.join(", ")}`;
}

/** The line a block with neither its table chunk nor a column chunk shows. */
export const NO_COLUMN_DETAILS = "  -- (no column details)";

/** A column chunk's line (with a comma before its comment when more columns follow). */
export function columnEntry(row: EmbeddingRow, followed = false): string {
  return `  ${columnLine(row)}${followed ? "," : ""}${columnComment(row)}`;
}

/** A chunk that is neither a table nor a column, or belongs to no table: its content in a comment. */
export function looseLine(row: EmbeddingRow): string {
  return `-- ${row.kind}: ${oneLine(row.content)}`;
}

function columnLine(row: EmbeddingRow): string {
  const column = text(row.metadata.column) || row.content.split("\n")[0];
  const type = text(row.metadata.type);
  const parts = [column];
  if (type !== "") {
    parts.push(type);
  }
  if (row.metadata.primaryKey === true) {
    parts.push("PRIMARY KEY");
  }
  const references = row.metadata.references as
    { schema?: unknown; table?: unknown; column?: unknown } | undefined | null;
  if (references !== undefined && references !== null && typeof references === "object") {
    parts.push(`REFERENCES ${qualified(text(references.schema), text(references.table))}(${text(references.column)})`);
  }
  return parts.join(" ");
}

function columnComment(row: EmbeddingRow): string {
  const description = text(row.metadata.description);
  return description === "" ? "" : ` -- ${oneLine(description)}`;
}

function qualified(schema: string | null, table: string): string {
  return schema === null || schema === "" ? table : `${schema}.${table}`;
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function oneLine(value: string): string {
  return value.replace(/\s+/g, " ").trim();
}
