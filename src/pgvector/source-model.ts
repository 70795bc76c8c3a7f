import { sql, type CommonQueryMethods } from "slonik";
import { z } from "zod";
import { FailedPreconditionError } from "../core/errors.js";
import { query, tableIdentifier, unhandledCondition, type SourceTable } from "./source-table.js";

// One collection holds one model's vectors: which model the source rows record, and the refusals when
// they (or the embedder of `--reembed-missing`) disagree.

const modelSchema = z.object({ model: z.string() });

/**
 * The model that made the source table's vectors: what its rows record (`npm run migrate` sets the
 * existing deployment's model on old rows). More than one is refused: one collection, one model.
 */
export async function collectionModel(connection: CommonQueryMethods, source: SourceTable): Promise<string> {
  const models = await query("reading the rows' model", () =>
    connection.anyFirst(sql.type(modelSchema)`
      SELECT DISTINCT model FROM ${tableIdentifier(source)} WHERE model IS NOT NULL ORDER BY model LIMIT 5
    `),
  );
  if (models.length > 1) {
    throw new FailedPreconditionError(
      `the rows of ${source.table} record ${models.length === 5 ? "5 or more" : models.length} embedding models (${models.join(", ")}): one collection holds one model's vectors; re-embed or remove the others first`,
    );
  }
  return models[0] ?? DEFAULT_SOURCE_MODEL;
}

/** The model old rows get from `npm run migrate` (the existing deployment's). */
export const DEFAULT_SOURCE_MODEL = "text-embedding-3-large";

/** Refuses rows still to move whose recorded model is not the collection's. */
export async function requireOneModel(
  connection: CommonQueryMethods,
  source: SourceTable,
  model: string,
): Promise<void> {
  const others = await query("checking the rows' model", () =>
    connection.anyFirst(sql.type(modelSchema)`
      SELECT DISTINCT model FROM ${tableIdentifier(source)} WHERE model IS DISTINCT FROM ${model} AND ${unhandledCondition(source)} LIMIT 5
    `),
  );
  if (others.length > 0) {
    throw new FailedPreconditionError(
      `rows of ${source.table} record the model ${others.join(", ")} but the collection holds ${model} vectors: one collection holds one model's vectors`,
    );
  }
}

/** The one line `--reembed-missing` fails with when the configured embedder is not the collection's model. */
export function reembedModelMessage(model: string, embedderModel: string): string {
  return `--reembed-missing would embed with ${embedderModel} into a collection of ${model} vectors: set OPENAI_API_KEY and EMBEDDING_MODEL=${model}, or use --skip-missing to leave those rows out`;
}
