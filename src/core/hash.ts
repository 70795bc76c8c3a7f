import { createHash } from "node:crypto";

/** Hex SHA-256 of a chunk's text: with the model it decides whether an upsert must re-embed. */
export function contentHash(content: string): string {
  return createHash("sha256").update(content, "utf8").digest("hex");
}
