-- Up Migration
--
-- The write path's intent record (src/core/write-path.ts). A write that touches Qdrant first records,
-- in Postgres and before Qdrant sees anything, what it is about to do: one row per embedding id, the
-- newest write's intent replacing an older one. It is deleted in the same transaction that makes the
-- write final in `dq_embeddings`, so "an intent exists" means "this id's last write is not finished":
-- the request itself, or the background repairer, completes it from this record (the target row and
-- the exact vector, so nothing is ever re-embedded to finish a write).
--   op 'upsert': `target` is the row to write; for an update of an existing row, `vector` is the
--     little-endian float32 vector of its point (finished forward). A create records no vector: if it
--     dies, it is rolled back (its point deleted), so bulk ingest does not write every vector twice.
--   op 'delete': the row is already gone; the point must go.
--   op 'status': the row's status is already final; the point's payload must follow.

CREATE TABLE IF NOT EXISTS dq_write_intents (
  id uuid PRIMARY KEY,
  write_id uuid NOT NULL,
  op text NOT NULL CHECK (op IN ('upsert', 'delete', 'status')),
  catalog_id uuid,
  target jsonb,
  vector bytea,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Float vectors do not compress: store them out of line without trying.
ALTER TABLE dq_write_intents ALTER COLUMN vector SET STORAGE EXTERNAL;

CREATE INDEX IF NOT EXISTS dq_write_intents_created_at_idx ON dq_write_intents (created_at);

-- Down Migration

DROP TABLE IF EXISTS dq_write_intents;
