/**
 * An uploaded catalog becomes chunks: one per table, one per column, one per extra document. Chunk ids
 * are deterministic (UUID v5 of catalog id, kind and natural key), so indexing the same catalog again
 * yields the same ids and only changed texts are re-embedded. The text of a chunk is what gets embedded
 * and what the lexical (sparse) vector is built from (see `catalog/chunk-texts.ts`); its metadata
 * carries the structured facts (names, types, keys, references) so that retrieval can assemble context
 * without parsing text. Identifiers are kept as given, never lower-cased.
 */
import {
  columnText,
  createWordsOf,
  tableText,
  type ColumnFacts,
  type TableFacts,
  type TextContext,
} from "./chunk-texts.js";
import type { CatalogColumnInput, CatalogInput, ResolvedReference } from "./types.js";
import {
  COLUMN_KIND,
  DEFAULT_DOCUMENT_KIND,
  createDocumentPlaces,
  resolveReference,
  TABLE_KIND,
  validateCatalog,
} from "./validate-catalog.js";
import { v5 as uuidV5 } from "uuid";
import type { UpsertInput } from "../ingest.js";
import { requireUuid } from "../validate.js";

export type * from "./types.js";
export { CATALOG_LIMITS, COLUMN_KIND, DEFAULT_DOCUMENT_KIND, TABLE_KIND, validateCatalog } from "./validate-catalog.js";
export { identifierWords } from "./identifier-words.js";

/** A chunk to upsert, with the natural key its id derives from (`schema.table`, `schema.table.column`, a document's key). */
export interface CatalogChunk extends UpsertInput {
  naturalKey: string;
}

/**
 * The namespace of catalog chunk ids. Fixed forever: changing it changes every id, which turns the next
 * sync of every catalog into "delete everything, add everything".
 */
export const CATALOG_CHUNK_NAMESPACE = "eb861a42-b88f-401c-956b-a84bd9c0d778";

/** The id of a catalog chunk: UUID v5 over `${catalogId}\0${kind}\0${naturalKey}` (catalog id lower-cased). */
export function catalogChunkId(catalogId: string, kind: string, naturalKey: string): string {
  return uuidV5(`${catalogId.toLowerCase()}\u0000${kind}\u0000${naturalKey}`, CATALOG_CHUNK_NAMESPACE);
}

export interface CatalogChunkOptions {
  /**
   * Counts a text's tokens the way the embedder will (`Embedder.countTokens`). Without it UTF-8 bytes
   * are counted, an upper bound for every byte-level BPE tokenizer (texts then stay shorter than needed).
   */
  countTokens?: (text: string, limit?: number) => number;
  /**
   * The most tokens a table or column text may take (OpenAI's embedding models accept 8,191). A table
   * text lists its columns until the budget is spent and then says how many it left out (each column
   * has its own chunk); an over-long description is cut. Documents are not cut.
   */
  maxTokens?: number;
}

export const DEFAULT_MAX_CHUNK_TOKENS = 8000;

/**
 * The chunks of a catalog, in catalog order: each table's chunk followed by its columns' chunks, then
 * the documents. Validates the catalog id and the catalog first; errors name `catalog_id` or the field
 * path in the catalog (`catalog.schemas[0].tables[3].columns[2].references`).
 */
export function catalogChunks(
  catalogId: string,
  catalog: CatalogInput,
  options: CatalogChunkOptions = {},
): CatalogChunk[] {
  const catalogUuid = requireUuid(catalogId, "catalog_id");
  validateCatalog(catalog);
  const budget: TextContext = {
    countTokens: options.countTokens,
    maxTokens: options.maxTokens ?? DEFAULT_MAX_CHUNK_TOKENS,
    manySchemas: catalog.schemas.length > 1,
    wordsOf: createWordsOf(identifiersOf(catalog)),
  };
  const referencedBy = incomingReferences(catalog);
  const chunk = (
    kind: string,
    naturalKey: string,
    rest: Omit<CatalogChunk, "id" | "naturalKey" | "catalogId" | "kind">,
  ): CatalogChunk => ({
    id: catalogChunkId(catalogUuid, kind, naturalKey),
    naturalKey,
    catalogId: catalogUuid,
    kind,
    ...rest,
  });

  const chunks: CatalogChunk[] = [];
  for (const schema of catalog.schemas) {
    for (const table of schema.tables) {
      const tableKey = `${schema.name}.${table.name}`;
      const columns: ColumnFacts[] = table.columns.map((column) => ({
        schema: schema.name,
        table: table.name,
        column: column.name,
        type: column.type,
        description: column.description,
        primaryKey: column.primaryKey,
        references: referenceOf(column, schema.name),
        referencedBy: referencedBy.get(`${tableKey}.${column.name}`) ?? [],
      }));
      const facts: TableFacts = {
        schema: schema.name,
        schemaDescription: schema.description,
        table: table.name,
        description: table.description,
        columns,
        related: relatedTables(schema.name, table.name, columns),
      };
      chunks.push(
        chunk(TABLE_KIND, tableKey, {
          content: tableText(facts, budget),
          metadata: {
            schema: schema.name,
            table: table.name,
            description: table.description,
            columns: columns.map((column) => ({
              name: column.column,
              type: column.type,
              primaryKey: column.primaryKey,
              references: column.references,
            })),
          },
          schemaName: schema.name,
          tableName: table.name,
        }),
      );
      for (const column of columns) {
        chunks.push(
          chunk(COLUMN_KIND, `${tableKey}.${column.column}`, {
            content: columnText(column, budget),
            metadata: {
              schema: column.schema,
              table: column.table,
              column: column.column,
              type: column.type,
              primaryKey: column.primaryKey,
              references: column.references,
              referencedBy: column.referencedBy,
              description: column.description,
            },
            schemaName: schema.name,
            tableName: table.name,
          }),
        );
      }
    }
  }

  const placeOf = createDocumentPlaces(catalog);
  catalog.documents.forEach((document, index) => {
    const place = placeOf(document.schemaName, document.tableName, `catalog.documents[${index}]`);
    chunks.push(
      chunk(document.kind === "" ? DEFAULT_DOCUMENT_KIND : document.kind, document.key, {
        content: document.content,
        metadata: document.metadata,
        schemaName: place.schema,
        tableName: place.table,
      }),
    );
  });
  return chunks;
}

/** Every table and column name of the catalog: the vocabulary that run-together names are split by. */
function* identifiersOf(catalog: CatalogInput): Generator<string> {
  for (const schema of catalog.schemas) {
    for (const table of schema.tables) {
      yield table.name;
      for (const column of table.columns) yield column.name;
    }
  }
}

function referenceOf(column: CatalogColumnInput, schema: string): ResolvedReference | null {
  return column.references === undefined ? null : resolveReference(column.references, schema);
}

/** `schema.table.column` -> the columns that reference it, in catalog order. */
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

/** Tables on the other side of a table's foreign keys (both directions), first-seen order, without itself. */
function relatedTables(
  schema: string,
  table: string,
  columns: readonly ColumnFacts[],
): { schema: string; table: string }[] {
  const related = new Map<string, { schema: string; table: string }>();
  const add = (other: ResolvedReference): void => {
    if (other.schema === schema && other.table === table) return;
    related.set(`${other.schema}\u0000${other.table}`, { schema: other.schema, table: other.table });
  };
  for (const column of columns) {
    if (column.references !== null) add(column.references);
    column.referencedBy.forEach(add);
  }
  return [...related.values()];
}
