import { randomUUID } from "node:crypto";
import type { EmbeddingRow } from "../../src/core/types.js";

/** A catalog row of schema `s` as the metadata store returns it, for tests of what is built from rows. */
export function catalogRow(
  kind: string,
  table: string,
  metadata: Record<string, unknown> = {},
  content = `${kind} ${table}`,
  id: string = randomUUID(),
): EmbeddingRow {
  return {
    id,
    catalogId: "c",
    kind,
    content,
    metadata,
    schemaName: "s",
    tableName: table,
    status: "pending",
    contentHash: "h",
    model: "m",
    qdrantPointId: null,
    createdAt: 0,
    updatedAt: 0,
  };
}
