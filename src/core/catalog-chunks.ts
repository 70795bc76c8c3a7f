/**
 * An uploaded catalog becomes chunks: one per table, one per column, one per extra document. Chunk ids
 * are deterministic (UUID v5 of catalog id, kind and natural key), so indexing the same catalog again
 * yields the same ids and only changed texts are re-embedded. The text of a chunk is what gets
 * embedded and what the lexical (sparse) vector is built from; its metadata carries the structured
 * facts (names, types, keys, references) so that retrieval can assemble context without parsing text.
 */
import { identifierWords } from "./catalog/identifier-words.js";
import type { CatalogColumnInput, CatalogInput, CatalogTableInput, ResolvedReference } from "./catalog/types.js";
import { uuidV5 } from "./catalog/uuid-v5.js";
import {
  COLUMN_KIND,
  DEFAULT_DOCUMENT_KIND,
  resolveDocumentPlace,
  resolveReference,
  TABLE_KIND,
  validateCatalog,
} from "./catalog/validate-catalog.js";
import type { UpsertInput } from "./ingest.js";
import { LIMITS } from "./limits.js";
import { requireUuid } from "./validate.js";

export type * from "./catalog/types.js";
export { CATALOG_LIMITS, COLUMN_KIND, DEFAULT_DOCUMENT_KIND, TABLE_KIND, validateCatalog } from "./catalog/validate-catalog.js";
export { identifierWords } from "./catalog/identifier-words.js";

/** A chunk to upsert, with the natural key its id derives from (`schema.table`, `schema.table.column`, a document's key). */
export interface CatalogChunk extends UpsertInput {
  naturalKey: string;
}

/**
 * The namespace of catalog chunk ids. Fixed forever: changing it changes every id, which turns the
 * next sync of every catalog into "delete everything, add everything".
 */
export const CATALOG_CHUNK_NAMESPACE = "eb861a42-b88f-401c-956b-a84bd9c0d778";

/** The id of a catalog chunk: UUID v5 over `${catalogId}\0${kind}\0${naturalKey}`. */
export function catalogChunkId(catalogId: string, kind: string, naturalKey: string): string {
  return uuidV5(`${catalogId.toLowerCase()}\u0000${kind}\u0000${naturalKey}`, CATALOG_CHUNK_NAMESPACE);
}

export interface CatalogChunkOptions {
  /**
   * Counts the tokens of a text the way the embedder will (`Embedder.countTokens`). Without it, UTF-8
   * bytes are counted, an upper bound for every byte-level BPE tokenizer.
   */
  countTokens?: (text: string) => number;
  /**
   * The most tokens one table or column text may take (OpenAI's embedding models accept 8,191). A table
   * text lists its columns until the budget is spent and then says how many it left out (every column
   * has its own chunk); an over-long description is cut.
   */
  maxTokens?: number;
}

export const DEFAULT_MAX_CHUNK_TOKENS = 8000;

/**
 * The chunks of a catalog, in catalog order: each table's chunk followed by its columns' chunks, then
 * the documents. Validates the catalog id and the catalog first (errors name `catalog_id` and the
 * `catalog....` field path).
 */
export function catalogChunks(catalogId: string, catalog: CatalogInput, options: CatalogChunkOptions = {}): CatalogChunk[] {
  const catalogUuid = requireUuid(catalogId, "catalog_id");
  validateCatalog(catalog);
  const budget = textBudget(options);
  const context: TextContext = { budget, schemaCount: catalog.schemas.length };
  const referencedBy = incomingReferences(catalog);
  const chunks: CatalogChunk[] = [];

  for (const schema of catalog.schemas) {
    for (const table of schema.tables) {
      const tableKey = `${schema.name}.${table.name}`;
      chunks.push({
        id: catalogChunkId(catalogUuid, TABLE_KIND, tableKey),
        naturalKey: tableKey,
        catalogId: catalogUuid,
        kind: TABLE_KIND,
        content: tableText(schema.name, table, budget),
        metadata: {
          schema: schema.name,
          table: table.name,
          description: table.description,
          columns: table.columns.map((column) => ({
            name: column.name,
            type: column.type,
            primaryKey: column.primaryKey,
            references: referenceOf(column, schema.name),
          })),
        },
        schemaName: schema.name,
        tableName: table.name,
      });
      for (const column of table.columns) {
        const columnKey = `${tableKey}.${column.name}`;
        const incoming = referencedBy.get(columnKey) ?? [];
        chunks.push({
          id: catalogChunkId(catalogUuid, COLUMN_KIND, columnKey),
          naturalKey: columnKey,
          catalogId: catalogUuid,
          kind: COLUMN_KIND,
          content: columnText(schema.name, table, column, incoming, context),
          metadata: {
            schema: schema.name,
            table: table.name,
            column: column.name,
            type: column.type,
            primaryKey: column.primaryKey,
            references: referenceOf(column, schema.name),
            referencedBy: incoming,
            description: column.description,
          },
          schemaName: schema.name,
          tableName: table.name,
        });
      }
    }
  }

  catalog.documents.forEach((document, index) => {
    const kind = document.kind === "" ? DEFAULT_DOCUMENT_KIND : document.kind;
    const place = resolveDocumentPlace(catalog, document.schemaName, document.tableName, `catalog.documents[${index}]`);
    chunks.push({
      id: catalogChunkId(catalogUuid, kind, document.key),
      naturalKey: document.key,
      catalogId: catalogUuid,
      kind,
      content: document.content,
      metadata: document.metadata,
      schemaName: place.schema,
      tableName: place.table,
    });
  });
  return chunks;
}

// ---------------------------------------------------------------------------------------------
// Texts. See the comment on CreateEmbeddingsForCatalogRequest in embedding_service.proto.

interface TextContext {
  budget: Budget;
  /** A catalog of one schema leaves the schema out of column texts: the same words in every chunk only blur them. */
  schemaCount: number;
}

interface Budget {
  count: (text: string) => number;
  max: number;
}

function textBudget(options: CatalogChunkOptions): Budget {
  const bytes = (text: string): number => Buffer.byteLength(text, "utf8");
  const count = options.countTokens ?? bytes;
  // The content limit of an embedding applies whatever the tokenizer says.
  return { count: (text) => Math.max(count(text), Math.ceil(bytes(text) / (LIMITS.maxContentBytes / Math.max(options.maxTokens ?? DEFAULT_MAX_CHUNK_TOKENS, 1)))), max: options.maxTokens ?? DEFAULT_MAX_CHUNK_TOKENS };
}

/** `name (its words)`: the words always, so that every name weighs the same whether it splits or not. */
function named(identifier: string): string {
  return `${identifier} (${words(identifier)})`;
}

/** The identifier's words, lower-cased (`concert_ID` -> `concert id`, `country` -> `country`). */
function words(identifier: string): string {
  const phrase = identifierWords(identifier).join(" ");
  return phrase === "" ? identifier : phrase;
}

/** Column descriptions up to this size are repeated in the table's column list; longer ones only in the column's chunk. */
const SHORT_DESCRIPTION_BYTES = 80;

function tableText(schemaName: string, table: CatalogTableInput, budget: Budget): string {
  const head = [`Table: ${named(table.name)}`, `Schema: ${named(schemaName)}`];
  if (table.description.trim() !== "") {
    head.push(`Description: ${cut(table.description.trim(), budget, Math.floor(budget.max / 2) - budget.count(head.join("\n")))}`);
  }
  const text = head.join("\n");
  const label = `\nColumns of ${words(table.name)}: `;
  const items = table.columns.map((column) => {
    const notes: string[] = [];
    const description = column.description.trim();
    if (description !== "" && Buffer.byteLength(description, "utf8") <= SHORT_DESCRIPTION_BYTES) notes.push(description);
    if (column.primaryKey) notes.push("primary key");
    return notes.length === 0 ? words(column.name) : `${words(column.name)} (${notes.join("; ")})`;
  });
  if (items.length === 0) return text;
  const full = `${text}${label}${items.join(", ")}`;
  if (budget.count(full) <= budget.max) return full;
  // Too long for one embedding: list as many columns as fit and say how many are left out.
  let low = 0;
  let high = items.length;
  const withFirst = (n: number): string => `${text}${label}${items.slice(0, n).join(", ")}, and ${items.length - n} more columns`;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (budget.count(withFirst(mid)) <= budget.max) low = mid;
    else high = mid - 1;
  }
  return withFirst(low);
}

function columnText(schemaName: string, table: CatalogTableInput, column: CatalogColumnInput, incoming: ResolvedReference[], context: TextContext): string {
  const lines = [`Column: ${named(column.name)}`, `Table: ${named(table.name)}`];
  if (context.schemaCount > 1) lines.push(`Schema: ${named(schemaName)}`);
  if (column.type !== "") lines.push(`Type: ${column.type}`);
  const relations: string[] = [];
  if (column.primaryKey) relations.push(`Primary key of ${named(table.name)}.`);
  const reference = referenceOf(column, schemaName);
  if (reference !== null) relations.push(`References ${referenceName(reference, schemaName)}.`);
  if (incoming.length > 0) relations.push(`Referenced by ${incoming.map((ref) => referenceName(ref, schemaName)).join(", ")}.`);
  if (relations.length > 0) lines.push(relations.join(" "));
  if (column.description.trim() !== "") {
    lines.push(`Description: ${cut(column.description.trim(), context.budget, context.budget.max - context.budget.count(lines.join("\n")) - 16)}`);
  }
  return lines.join("\n");
}

/** `table.column (table words column words)`, schema-qualified only when it is another schema. */
function referenceName(reference: ResolvedReference, schemaName: string): string {
  const dotted = `${reference.schema === schemaName ? "" : `${reference.schema}.`}${reference.table}.${reference.column}`;
  return `${dotted} (${words(reference.table)} ${words(reference.column)})`;
}

/** Cuts `text` (at a word boundary when it can) so that it takes at most `maxTokens`. */
function cut(text: string, budget: Budget, maxTokens: number): string {
  if (budget.count(text) <= maxTokens) return text;
  let low = 0;
  let high = text.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (budget.count(`${text.slice(0, mid)}...`) <= maxTokens) low = mid;
    else high = mid - 1;
  }
  let end = low;
  const space = text.lastIndexOf(" ", end);
  if (space > end * 0.8) end = space;
  // Never split a surrogate pair.
  if (end > 0 && /[\uD800-\uDBFF]/.test(text[end - 1])) end--;
  return `${text.slice(0, end)}...`;
}

function referenceOf(column: CatalogColumnInput, schemaName: string): ResolvedReference | null {
  return column.references === undefined ? null : resolveReference(column.references, schemaName);
}

/** `schema.table.column` -> the columns that reference it. */
function incomingReferences(catalog: CatalogInput): Map<string, ResolvedReference[]> {
  const incoming = new Map<string, ResolvedReference[]>();
  for (const schema of catalog.schemas) {
    for (const table of schema.tables) {
      for (const column of table.columns) {
        const target = referenceOf(column, schema.name);
        if (target === null) continue;
        const key = `${target.schema}.${target.table}.${target.column}`;
        const list = incoming.get(key) ?? [];
        list.push({ schema: schema.name, table: table.name, column: column.name });
        incoming.set(key, list);
      }
    }
  }
  return incoming;
}
