/**
 * `metadata.origin` of the rows catalog indexing writes: only these are deleted when an upload no longer
 * has them, and retrieval reads a table's structure only from them.
 */
export const CATALOG_ORIGIN = "catalog";

/**
 * A database catalog as the core sees it: the proto's `Catalog` messages as plain TypeScript
 * (camelCase, no generated types). The server translates requests into these; empty strings mean
 * "not given", as in proto3.
 */

export interface CatalogInput {
  schemas: CatalogSchemaInput[];
  /** Extra texts indexed with the catalog (example question/SQL pairs, glossary entries). */
  documents: CatalogDocumentInput[];
}

export interface CatalogSchemaInput {
  name: string;
  description: string;
  tables: CatalogTableInput[];
}

export interface CatalogTableInput {
  name: string;
  description: string;
  columns: CatalogColumnInput[];
}

export interface CatalogColumnInput {
  name: string;
  /** The SQL type as the source reports it ("integer", "varchar(64)"); may be empty. */
  type: string;
  description: string;
  primaryKey: boolean;
  /** The column this one references, when it is a foreign key. */
  references?: ColumnReferenceInput;
}

export interface ColumnReferenceInput {
  /** Empty means the referencing table's schema. */
  schemaName: string;
  tableName: string;
  columnName: string;
}

export interface CatalogDocumentInput {
  /** Unique among the catalog's documents; the chunk id derives from it. */
  key: string;
  /** The chunk kind; empty means "document". */
  kind: string;
  content: string;
  /** Optional: the schema and table the document is about (empty means none). */
  schemaName: string;
  tableName: string;
  metadata: Record<string, unknown>;
}

/** A column reference with its schema filled in: what chunk metadata carries. */
export interface ResolvedReference {
  schema: string;
  table: string;
  column: string;
}
