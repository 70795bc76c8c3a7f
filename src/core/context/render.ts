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
 * metadata) are rendered as their content in a comment.
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
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  const parts: string[] = [];
  for (const group of groups.values()) {
    parts.push(renderTable(group));
  }
  for (const row of loose) {
    parts.push(renderLoose(row));
  }
  return parts.join("\n\n");
}

/** The text one table's chunks add: its CREATE TABLE block. */
export function renderTable(rows: readonly EmbeddingRow[]): string {
  const first = rows[0];
  const table = rows.find((row) => row.kind === "table");
  const name = qualified(first.schemaName, first.tableName ?? "");
  const description = text(table?.metadata.description);
  const lines = [`CREATE TABLE ${name} (${description === "" ? "" : ` -- ${oneLine(description)}`}`];
  const columns = rows.filter((row) => row.kind === "column");
  const others = rows.filter((row) => row.kind !== "column" && row.kind !== "table");
  columns.forEach((row, index) =>
    lines.push(`  ${columnLine(row)}${index < columns.length - 1 ? "," : ""}${columnComment(row)}`),
  );
  if (columns.length === 0 && table !== undefined && Array.isArray(table.metadata.columns)) {
    const names = (table.metadata.columns as Array<{ name?: unknown }>)
      .map((column) => text(column.name))
      .filter((value) => value !== "");
    lines.push(`  -- columns: ${names.join(", ")}`);
  }
  if (table === undefined && columns.length === 0) {
    lines.push("  -- (no column details)");
  }
  lines.push(");");
  for (const row of others) {
    lines.push(renderLoose(row));
  }
  return lines.join("\n");
}

function renderLoose(row: EmbeddingRow): string {
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
