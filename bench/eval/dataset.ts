// The Spider-derived tuning set (../shared/eval/README.md) as the service sees it: catalogs to upload
// through CreateEmbeddingsForCatalog and questions with their gold tables and columns.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";

export interface SpiderColumn {
  name: string;
  natural_name: string;
  type: string;
  primary_key: boolean;
  /** `table.column` in the same database. */
  references?: string;
}

export interface SpiderTable {
  name: string;
  natural_name: string;
  columns: SpiderColumn[];
}

/** `db_id` -> its tables. */
export type SpiderCatalogs = Record<string, SpiderTable[]>;

export interface Question {
  id: string;
  db_id: string;
  question: string;
  gold_tables: string[];
  gold_columns: string[];
}

/** What goes into descriptions: nothing (names only), or Spider's readable names where they add words. */
export type DescriptionSource = "none" | "natural";

/** The CatalogSchema message (as a plain init object) of one database. */
export interface CatalogSchemaInit {
  name: string;
  description: string;
  tables: Array<{
    name: string;
    description: string;
    columns: Array<{
      name: string;
      type: string;
      description: string;
      primaryKey: boolean;
      references?: { schemaName: string; tableName: string; columnName: string };
    }>;
  }>;
}

export async function readQuestions(file: string | URL): Promise<Question[]> {
  const text = await readFile(file, "utf8");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Question);
}

export async function readCatalogs(file: string | URL): Promise<SpiderCatalogs> {
  return JSON.parse(await readFile(file, "utf8")) as SpiderCatalogs;
}

/**
 * One database as one schema. Spider's `natural_name` is what a catalog with readable names would carry
 * as a comment, so with `natural` it becomes the description of every table and column (any catalog
 * with such names would be uploaded the same way); the service itself leaves out a description that
 * only repeats the identifier's words.
 */
export function schemaOf(
  schemaName: string,
  tables: readonly SpiderTable[],
  descriptions: DescriptionSource,
): CatalogSchemaInit {
  const describe = (natural: string) => (descriptions === "natural" ? natural : "");
  return {
    name: schemaName,
    description: "",
    tables: tables.map((table) => ({
      name: table.name,
      description: describe(table.natural_name),
      columns: table.columns.map((column) => {
        const [tableName, columnName] = splitReference(column.references);
        return {
          name: column.name,
          type: column.type,
          description: describe(column.natural_name),
          primaryKey: column.primary_key,
          ...(tableName === undefined ? {} : { references: { schemaName: "", tableName, columnName } }),
        };
      }),
    })),
  };
}

function splitReference(reference: string | undefined): [string, string] | [undefined, undefined] {
  if (reference === undefined || reference === "") return [undefined, undefined];
  const dot = reference.indexOf(".");
  return [reference.slice(0, dot), reference.slice(dot + 1)];
}

/** A stable catalog id per name, so a run against a persistent DATA_DIR re-indexes incrementally. */
export function catalogIdOf(name: string): string {
  const hex = createHash("sha256").update(`dq-embeddings-eval\u0000${name}`).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
