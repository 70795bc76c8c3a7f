/**
 * The texts of table and column chunks: what gets embedded (dense) and what the lexical (sparse)
 * vector is built from, so they decide what a question finds. The comment on
 * CreateEmbeddingsForCatalogRequest in embedding_service.proto states the format.
 *
 * Choices, each measured on the Spider-derived tuning set (see the commit messages):
 * - every identifier is followed by its plain words (`concert_ID (concert id)`), always, even when they
 *   are the same (`country (country)`), so a name weighs the same whether it splits or not and an
 *   embedding model that reads words meets them; run-together names are split by the catalog's own
 *   words (`countrylanguage (country language)` when `country` and `language` name other things);
 * - a table text names the table in its header, its primary key line and its column list label, and
 *   lists columns by their words: the table's own words then outweigh any single column's;
 * - related tables (either side of a foreign key) are named, so a question about flights from a city
 *   also finds the airports table that holds the city;
 * - a column text carries its table and its relations (primary key of, references, referenced by):
 *   questions name the entity as often as the attribute, and join keys are found with their tables;
 * - what is the same in every chunk says nothing and only blurs the rest: the schema is left out of
 *   column texts in a one-schema catalog, and a description that repeats its name is not repeated.
 */
import { LIMITS } from "../limits.js";
import { createCompoundSplitter, identifierWords } from "./identifier-words.js";
import type { ResolvedReference } from "./types.js";

/** What a table's text says, with references resolved. */
export interface TableFacts {
  schema: string;
  /** Named (its first words) only in a catalog of several schemas, where it tells the schemas apart. */
  schemaDescription: string;
  table: string;
  description: string;
  columns: ColumnFacts[];
  /** Tables on the other side of this table's foreign keys, in either direction, without repeats. */
  related: { schema: string; table: string }[];
}

export interface ColumnFacts {
  schema: string;
  table: string;
  column: string;
  type: string;
  description: string;
  primaryKey: boolean;
  references: ResolvedReference | null;
  referencedBy: ResolvedReference[];
}

export interface TextContext {
  /** Tokens of a text as the embedder counts them; UTF-8 bytes (an upper bound for byte-level BPE) when absent. */
  countTokens?: (text: string, limit?: number) => number;
  maxTokens: number;
  /** Whether the catalog has more than one schema (the schema is named in column texts only then). */
  manySchemas: boolean;
  /** An identifier's plain words, lower-cased and joined by spaces (see `createWordsOf`). */
  wordsOf: (identifier: string) => string;
}

/**
 * The words of identifiers within one catalog (`concert_ID` -> `concert id`, `countrylanguage` ->
 * `country language` when the catalog spells out both words elsewhere), memoized: a table's name is
 * otherwise split once per column. The identifier itself when it has no words (`$`).
 */
type WordsOf = (identifier: string) => string;

export function createWordsOf(catalogIdentifiers: Iterable<string>): WordsOf {
  const split = createCompoundSplitter(catalogIdentifiers);
  const memo = new Map<string, string>();
  return (identifier) => {
    let phrase = memo.get(identifier);
    if (phrase === undefined) {
      phrase = identifierWords(identifier).flatMap(split).join(" ") || identifier;
      memo.set(identifier, phrase);
    }
    return phrase;
  };
}

/** Column descriptions up to this size are repeated in the table's column list; longer ones only in the column's chunk. */
const SHORT_DESCRIPTION_BYTES = 80;
/** The most of a schema's description repeated in each of its tables' texts. */
const SCHEMA_DESCRIPTION_BYTES = 200;
/** Related tables and referencing columns named in one text; the rest are counted. */
const MAX_LISTED_RELATIONS = 20;

export function tableText(facts: TableFacts, budget: TextContext): string {
  const words = budget.wordsOf;
  const tableWords = words(facts.table);
  const schemaNote = budget.manySchemas ? clip(facts.schemaDescription.trim(), SCHEMA_DESCRIPTION_BYTES) : "";
  const head = [
    `Table: ${named(facts.table, words)}`,
    `Schema: ${named(facts.schema, words)}${schemaNote === "" ? "" : `: ${schemaNote}`}`,
  ];
  if (addsWords(facts.description, facts.table, words)) {
    // At most half the budget, so that the columns are listed too.
    const half = { ...budget, maxTokens: Math.floor(budget.maxTokens / 2) };
    head.push(`Description: ${fit(`${head.join("\n")}\nDescription: `, facts.description.trim(), "", half)}`);
  }
  const keys = facts.columns.filter((column) => column.primaryKey);
  if (keys.length > 0) {
    head.push(`Primary key of ${tableWords}: ${listed(keys.map((column) => words(column.column)))}`);
  }
  if (facts.related.length > 0) {
    const names = facts.related.map((other) =>
      other.schema === facts.schema ? words(other.table) : `${words(other.table)} (${other.schema})`,
    );
    head.push(`Related tables: ${listed(names)}`);
  }
  // Pathological names (hundreds of bytes each, in every list) could overflow even before the columns.
  const text = fitWhole(head.join("\n"), budget);
  if (facts.columns.length === 0) return text;

  const items = facts.columns.map((column) => {
    const description = column.description.trim();
    const short =
      Buffer.byteLength(description, "utf8") <= SHORT_DESCRIPTION_BYTES && addsWords(description, column.column, words);
    return short ? `${words(column.column)} (${description})` : words(column.column);
  });
  const label = `\nColumns of ${tableWords}: `;
  const all = `${text}${label}${items.join(", ")}`;
  if (fits(all, budget)) return all;
  // Too long for one embedding: as many columns as fit, and how many are left out (each has its own chunk).
  const withFirst = (n: number): string =>
    n === 0
      ? `${text}${label}${items.length} columns, not listed`
      : `${text}${label}${items.slice(0, n).join(", ")}, and ${items.length - n} more columns`;
  let low = 0;
  let high = items.length - 1;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (fits(withFirst(mid), budget)) low = mid;
    else high = mid - 1;
  }
  return fitWhole(withFirst(low), budget);
}

export function columnText(facts: ColumnFacts, budget: TextContext): string {
  const words = budget.wordsOf;
  const lines = [`Column: ${named(facts.column, words)}`, `Table: ${named(facts.table, words)}`];
  if (budget.manySchemas) lines.push(`Schema: ${named(facts.schema, words)}`);
  if (facts.type !== "") lines.push(`Type: ${facts.type}`);
  const relations: string[] = [];
  if (facts.primaryKey) relations.push(`Primary key of ${named(facts.table, words)}.`);
  if (facts.references !== null) relations.push(`References ${referenceName(facts.references, facts.schema, words)}.`);
  if (facts.referencedBy.length > 0) {
    relations.push(
      `Referenced by ${listed(facts.referencedBy.map((reference) => referenceName(reference, facts.schema, words)))}.`,
    );
  }
  if (relations.length > 0) lines.push(relations.join(" "));
  const text = fitWhole(lines.join("\n"), budget);
  const description = facts.description.trim();
  if (description === "" || !fits(`${text}\nDescription: x...`, budget)) return text;
  const prefix = `${text}\nDescription: `;
  return `${prefix}${fit(prefix, description, "", budget)}`;
}

/** `name (its words)`: the words always, so that every name weighs the same whether it splits or not. */
function named(identifier: string, words: WordsOf): string {
  return `${identifier} (${words(identifier)})`;
}

/**
 * Whether a description says more than its name: `Customer ID` for `customer_id` does not, and
 * repeating it would only make that name weigh more than the others in the same text.
 */
function addsWords(description: string, identifier: string, words: WordsOf): boolean {
  if (description.trim() === "") return false;
  const own = new Set(words(identifier).split(" "));
  return identifierWords(description).some((word) => !own.has(word));
}

/** `table.column (table words column words)`, schema-qualified only when it is another schema. */
function referenceName(reference: ResolvedReference, schema: string, words: WordsOf): string {
  const dotted = `${reference.schema === schema ? "" : `${reference.schema}.`}${reference.table}.${reference.column}`;
  return `${dotted} (${words(reference.table)} ${words(reference.column)})`;
}

function listed(names: readonly string[]): string {
  if (names.length <= MAX_LISTED_RELATIONS) return names.join(", ");
  return `${names.slice(0, MAX_LISTED_RELATIONS).join(", ")} and ${names.length - MAX_LISTED_RELATIONS} more`;
}

/** The first `maxBytes` of `text` at a word boundary, marked `...` when cut. */
function clip(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, "utf8") <= maxBytes) return text;
  let end = text.length;
  while (end > 0 && Buffer.byteLength(text.slice(0, end), "utf8") > maxBytes - 3) end = text.lastIndexOf(" ", end - 1);
  return end > 0 ? `${text.slice(0, end)}...` : `${[...text].slice(0, Math.floor((maxBytes - 3) / 4)).join("")}...`;
}

/** Whether a text is within the token budget and the content limit of one embedding. */
function fits(text: string, budget: TextContext): boolean {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > LIMITS.maxContentBytes) return false;
  // No byte-level BPE token is shorter than a byte: within the budget in bytes is within it in tokens.
  if (bytes <= budget.maxTokens) return true;
  return budget.countTokens !== undefined && budget.countTokens(text, budget.maxTokens) <= budget.maxTokens;
}

/** The text, cut to the budget if it must be. */
function fitWhole(text: string, budget: TextContext): string {
  return fits(text, budget) ? text : fit("", text, "", budget);
}

/** `text`, or its longest prefix (cut at a word boundary when one is near, marked `...`) that fits between `before` and `after`. */
function fit(before: string, text: string, after: string, budget: TextContext): string {
  if (fits(before + text + after, budget)) return text;
  const cutAt = (end: number): string => `${text.slice(0, end)}...`;
  let low = 0;
  let high = text.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (fits(before + cutAt(mid) + after, budget)) low = mid;
    else high = mid - 1;
  }
  let end = low;
  const space = text.lastIndexOf(" ", end);
  if (space > end * 0.8) end = space;
  // Never split a surrogate pair.
  if (end > 0 && text.charCodeAt(end - 1) >= 0xd800 && text.charCodeAt(end - 1) <= 0xdbff) end--;
  return cutAt(end);
}
