import type { CatalogInput } from "../core/catalog/chunks.js";
import type { Catalog } from "../../gen/dq/embeddings/v1/embedding_service_pb.js";

/** The uploaded catalog as the core's plain type; validation (names, duplicates, references) is the core's. */
export function catalogFromProto(catalog: Catalog): CatalogInput {
  return {
    schemas: catalog.schemas.map((schema) => ({
      name: schema.name,
      description: schema.description,
      tables: schema.tables.map((table) => ({
        name: table.name,
        description: table.description,
        columns: table.columns.map((column) => ({
          name: column.name,
          type: column.type,
          description: column.description,
          primaryKey: column.primaryKey,
          references:
            column.references === undefined
              ? undefined
              : {
                  schemaName: column.references.schemaName,
                  tableName: column.references.tableName,
                  columnName: column.references.columnName,
                },
        })),
      })),
    })),
    documents: catalog.documents.map((document) => ({
      key: document.key,
      kind: document.kind,
      content: document.content,
      schemaName: document.schemaName,
      tableName: document.tableName,
      metadata: document.metadata ?? {},
    })),
  };
}
