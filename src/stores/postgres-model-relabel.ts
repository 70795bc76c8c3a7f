import type { Logger } from "pino";
import { sql, type DatabasePool } from "slonik";
import { z } from "zod";
import { toPostgresDomainError } from "./postgres-pool.js";

export interface RelabelEntry {
  id: string;
  /** The content hash whose text was embedded; a row whose content changed since is left alone. */
  contentHash: string;
}

/**
 * Records that rows' vectors now come from `model` (after `npm run reembed` flipped the alias), in one
 * statement per call, so the service does not embed unchanged rows again on their next upsert. Only
 * rows whose content hash still equals the one embedded are changed: a row rewritten concurrently
 * keeps what its writer stored. `updated_at` is left as is (the row's content did not change).
 */
export function createModelRelabel(pool: DatabasePool, logger: Logger) {
  return async (entries: readonly RelabelEntry[], model: string): Promise<number> => {
    if (entries.length === 0) return 0;
    try {
      const changed = await pool.anyFirst(sql.type(z.object({ id: z.string() }))`
        UPDATE dq_embeddings AS d
        SET model = ${model}
        FROM unnest(
          ${sql.array(
            entries.map((entry) => entry.id),
            "uuid",
          )},
          ${sql.array(
            entries.map((entry) => entry.contentHash),
            "text",
          )}
        ) AS u(id, content_hash)
        WHERE d.id = u.id AND d.content_hash = u.content_hash AND d.model IS DISTINCT FROM ${model}
        RETURNING d.id
      `);
      return changed.length;
    } catch (error) {
      logger.debug({ err: error }, "relabel failed");
      throw toPostgresDomainError(error, "recording the new embedding model on rows");
    }
  };
}
