import { InvalidArgumentError } from "../errors.js";
import { LIMITS } from "../limits.js";
import { limitText, requireText } from "../validate.js";
import type { CatalogColumnInput, CatalogInput, ResolvedReference } from "./types.js";

/** The stated limits of an uploaded catalog (the proto comments on `Catalog` quote these numbers). */
export const CATALOG_LIMITS = {
  maxSchemas: 1000,
  maxTables: 10_000,
  maxColumnsPerTable: 1000,
  /**
   * Not implied by the two limits above (10,000 x 1,000 would be ten million chunks, gigabytes in
   * memory for one request): a warehouse of 10,000 tables averaging 25 columns fits.
   */
  maxColumns: 250_000,
  maxDocuments: 10_000,
  maxNameBytes: LIMITS.maxNameBytes,
  maxTypeBytes: 1024,
  maxDescriptionBytes: 8192,
  maxDocumentBytes: LIMITS.maxContentBytes,
  maxDocumentMetadataBytes: LIMITS.maxMetadataBytes,
  maxKindBytes: LIMITS.maxKindBytes,
} as const;

/** The chunk kinds the catalog's own objects use; a document may not take them. */
export const TABLE_KIND = "table";
export const COLUMN_KIND = "column";
export const DEFAULT_DOCUMENT_KIND = "document";

/**
 * Checks an uploaded catalog and throws `InvalidArgumentError` naming the exact field path (e.g.
 * `catalog.schemas[0].tables[3].columns[2].references`): required names, byte limits, counts,
 * duplicates (schemas in the catalog, tables in a schema, columns in a table, document keys),
 * references and documents that name tables or columns the catalog does not have, and NUL characters
 * (Postgres text cannot hold them). Names compare exactly: `Users` and `users` are two tables, as
 * quoted identifiers are in SQL.
 */
export function validateCatalog(catalog: CatalogInput, field = "catalog"): void {
  if (catalog.schemas.length > CATALOG_LIMITS.maxSchemas) {
    throw new InvalidArgumentError(
      `${field}.schemas`,
      `has ${catalog.schemas.length} schemas; the limit is ${CATALOG_LIMITS.maxSchemas}`,
    );
  }
  if (catalog.documents.length > CATALOG_LIMITS.maxDocuments) {
    throw new InvalidArgumentError(
      `${field}.documents`,
      `has ${catalog.documents.length} documents; the limit is ${CATALOG_LIMITS.maxDocuments}`,
    );
  }

  // Pass 1: names, limits and duplicates; collects what references may point at.
  const schemaIndex = new Map<string, number>();
  const columnsOf = new Map<string, Map<string, number>>(); // tableKey(schema, table) -> column -> index
  const naturalKeys = new Map<string, string>(); // dotted natural key -> field of its first owner
  let tableCount = 0;
  let columnCount = 0;
  catalog.schemas.forEach((schema, s) => {
    const schemaField = `${field}.schemas[${s}]`;
    name(schema.name, `${schemaField}.name`);
    description(schema.description, `${schemaField}.description`);
    firstOf(
      schemaIndex,
      schema.name,
      s,
      `${schemaField}.name`,
      (first) =>
        `duplicates ${field}.schemas[${first}].name "${schema.name}"; schema names must be unique within a catalog`,
    );
    const tableIndex = new Map<string, number>();
    schema.tables.forEach((table, t) => {
      const tableField = `${schemaField}.tables[${t}]`;
      tableCount++;
      if (tableCount > CATALOG_LIMITS.maxTables) {
        throw new InvalidArgumentError(
          tableField,
          `is table number ${tableCount} of the catalog; the limit is ${CATALOG_LIMITS.maxTables} tables per catalog`,
        );
      }
      name(table.name, `${tableField}.name`);
      description(table.description, `${tableField}.description`);
      firstOf(
        tableIndex,
        table.name,
        t,
        `${tableField}.name`,
        (first) =>
          `duplicates ${schemaField}.tables[${first}].name "${table.name}"; table names must be unique within a schema`,
      );
      uniqueNaturalKey(naturalKeys, TABLE_KIND, [schema.name, table.name], `${tableField}.name`);
      if (table.columns.length > CATALOG_LIMITS.maxColumnsPerTable) {
        throw new InvalidArgumentError(
          `${tableField}.columns`,
          `has ${table.columns.length} columns; the limit is ${CATALOG_LIMITS.maxColumnsPerTable} per table`,
        );
      }
      columnCount += table.columns.length;
      if (columnCount > CATALOG_LIMITS.maxColumns) {
        throw new InvalidArgumentError(
          `${tableField}.columns`,
          `brings the catalog to ${columnCount} columns; the limit is ${CATALOG_LIMITS.maxColumns} columns per catalog`,
        );
      }
      const columnIndex = new Map<string, number>();
      table.columns.forEach((column, c) => {
        const columnField = `${tableField}.columns[${c}]`;
        name(column.name, `${columnField}.name`);
        optional(column.type, `${columnField}.type`, CATALOG_LIMITS.maxTypeBytes);
        description(column.description, `${columnField}.description`);
        firstOf(
          columnIndex,
          column.name,
          c,
          `${columnField}.name`,
          (first) =>
            `duplicates ${tableField}.columns[${first}].name "${column.name}"; column names must be unique within a table`,
        );
        uniqueNaturalKey(naturalKeys, COLUMN_KIND, [schema.name, table.name, column.name], `${columnField}.name`);
      });
      columnsOf.set(tableKey(schema.name, table.name), columnIndex);
    });
  });

  // Pass 2: every reference names a column of the catalog.
  catalog.schemas.forEach((schema, s) => {
    schema.tables.forEach((table, t) => {
      table.columns.forEach((column, c) => {
        if (column.references !== undefined) {
          checkReference(
            column,
            schema.name,
            columnsOf,
            `${field}.schemas[${s}].tables[${t}].columns[${c}].references`,
          );
        }
      });
    });
  });

  const keyIndex = new Map<string, number>();
  const placeOf = createDocumentPlaces(catalog);
  catalog.documents.forEach((document, d) => {
    const documentField = `${field}.documents[${d}]`;
    name(document.key, `${documentField}.key`);
    firstOf(
      keyIndex,
      document.key,
      d,
      `${documentField}.key`,
      (first) =>
        `duplicates ${field}.documents[${first}].key "${document.key}"; document keys must be unique within a catalog`,
    );
    if (document.kind !== "") {
      optional(document.kind, `${documentField}.kind`, CATALOG_LIMITS.maxKindBytes);
      if (document.kind.trim() === "") {
        throw new InvalidArgumentError(`${documentField}.kind`, 'must not be blank (leave it empty for "document")');
      }
      if (document.kind === TABLE_KIND || document.kind === COLUMN_KIND) {
        throw new InvalidArgumentError(
          `${documentField}.kind`,
          `"${document.kind}" is reserved for the catalog's own ${document.kind}s; use another kind such as "example" or "glossary"`,
        );
      }
    }
    requireText(document.content, `${documentField}.content`, CATALOG_LIMITS.maxDocumentBytes);
    noNul(document.content, `${documentField}.content`);
    placeOf(document.schemaName, document.tableName, documentField);
    const metadataBytes = Buffer.byteLength(JSON.stringify(document.metadata), "utf8");
    if (metadataBytes > CATALOG_LIMITS.maxDocumentMetadataBytes) {
      throw new InvalidArgumentError(
        `${documentField}.metadata`,
        `is ${metadataBytes} bytes as JSON; the limit is ${CATALOG_LIMITS.maxDocumentMetadataBytes}`,
      );
    }
  });
}

/** The column a reference names, with the schema filled in (empty means the referencing table's). */
export function resolveReference(
  reference: { schemaName: string; tableName: string; columnName: string },
  schemaName: string,
): ResolvedReference {
  return {
    schema: reference.schemaName === "" ? schemaName : reference.schemaName,
    table: reference.tableName,
    column: reference.columnName,
  };
}

export type DocumentPlace = { schema: string | null; table: string | null };

/**
 * Finds where documents belong: a document's schema, and its table when given. A table without a
 * schema is looked up in every schema and must be found in exactly one. The resolver throws naming
 * the field when nothing matches. Indexes the catalog's names on first use (10,000 documents against
 * 10,000 tables would otherwise compare names a hundred million times).
 */
export function createDocumentPlaces(
  catalog: CatalogInput,
): (schemaName: string, tableName: string, field: string) => DocumentPlace {
  let tablesOf: Map<string, Set<string>> | undefined;
  let schemasOf: Map<string, string[]> | undefined;
  const index = (): { tablesOf: Map<string, Set<string>>; schemasOf: Map<string, string[]> } => {
    if (tablesOf === undefined || schemasOf === undefined) {
      tablesOf = new Map();
      schemasOf = new Map();
      for (const schema of catalog.schemas) {
        tablesOf.set(schema.name, new Set(schema.tables.map((table) => table.name)));
        for (const table of schema.tables) {
          const owners = schemasOf.get(table.name) ?? [];
          owners.push(schema.name);
          schemasOf.set(table.name, owners);
        }
      }
    }
    return { tablesOf, schemasOf };
  };

  return (schemaName, tableName, field) => {
    optional(schemaName, `${field}.schema_name`, CATALOG_LIMITS.maxNameBytes);
    optional(tableName, `${field}.table_name`, CATALOG_LIMITS.maxNameBytes);
    if (schemaName === "" && tableName === "") {
      return { schema: null, table: null };
    }
    if (schemaName !== "") {
      const tables = index().tablesOf.get(schemaName);
      if (tables === undefined) {
        throw new InvalidArgumentError(
          `${field}.schema_name`,
          `names schema "${schemaName}", which the catalog does not have`,
        );
      }
      if (tableName !== "" && !tables.has(tableName)) {
        throw new InvalidArgumentError(
          `${field}.table_name`,
          `names table "${schemaName}.${tableName}", which the catalog does not have`,
        );
      }
      return { schema: schemaName, table: tableName === "" ? null : tableName };
    }
    const owners = index().schemasOf.get(tableName) ?? [];
    if (owners.length !== 1) {
      throw new InvalidArgumentError(
        `${field}.table_name`,
        owners.length === 0
          ? `names table "${tableName}", which the catalog does not have`
          : `names table "${tableName}", which ${owners.length} schemas have; set schema_name too`,
      );
    }
    return { schema: owners[0], table: tableName };
  };
}

function checkReference(
  column: CatalogColumnInput,
  schemaName: string,
  columnsOf: Map<string, Map<string, number>>,
  field: string,
): void {
  const reference = column.references as NonNullable<CatalogColumnInput["references"]>;
  optional(reference.schemaName, `${field}.schema_name`, CATALOG_LIMITS.maxNameBytes);
  name(reference.tableName, `${field}.table_name`);
  name(reference.columnName, `${field}.column_name`);
  const target = resolveReference(reference, schemaName);
  const columns = columnsOf.get(tableKey(target.schema, target.table));
  if (columns === undefined) {
    throw new InvalidArgumentError(
      field,
      `references table "${target.schema}.${target.table}", which the catalog does not have`,
    );
  }
  if (!columns.has(target.column)) {
    throw new InvalidArgumentError(
      field,
      `references column "${target.schema}.${target.table}.${target.column}", which the catalog does not have`,
    );
  }
}

function name(value: string, field: string): void {
  requireText(value, field, CATALOG_LIMITS.maxNameBytes);
  noNul(value, field);
}

function description(value: string, field: string): void {
  optional(value, field, CATALOG_LIMITS.maxDescriptionBytes);
}

function optional(value: string, field: string, maxBytes: number): void {
  limitText(value, field, maxBytes);
  noNul(value, field);
}

function noNul(value: string, field: string): void {
  if (value.includes("\u0000")) {
    throw new InvalidArgumentError(field, "must not contain NUL (U+0000) characters");
  }
}

function firstOf(
  seen: Map<string, number>,
  key: string,
  index: number,
  field: string,
  message: (first: number) => string,
): void {
  const first = seen.get(key);
  if (first !== undefined) {
    throw new InvalidArgumentError(field, message(first));
  }
  seen.set(key, index);
}

/**
 * Natural keys join names with dots, so schema `a.b` + table `c` and schema `a` + table `b.c` would
 * share the key (and the chunk id) `a.b.c`. Refused rather than silently overwriting one of them.
 */
function uniqueNaturalKey(keys: Map<string, string>, kind: string, names: readonly string[], field: string): void {
  // Two different lists of names join to the same key only if both have a dot inside a name: keys
  // without one cannot collide (nor be collided with) and need not be remembered.
  if (!names.some((name) => name.includes("."))) return;
  const key = `${kind}:${names.join(".")}`;
  const owner = keys.get(key);
  if (owner !== undefined) {
    throw new InvalidArgumentError(
      field,
      `gives the natural key "${key.slice(key.indexOf(":") + 1)}", which ${owner} already gives (names containing dots collide); rename one of them`,
    );
  }
  keys.set(key, field);
}

function tableKey(schema: string, table: string): string {
  return `${schema}\u0000${table}`;
}
