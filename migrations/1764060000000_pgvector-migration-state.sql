-- Up Migration
--
-- Bookkeeping for `npm run migrate-pgvector` (moving vectors from a pgvector column into Qdrant):
-- one row per source table with the checkpoint of the current pass (the last id written back), the
-- last verification report, and the cutover / rollback record. New installations get the (empty)
-- table too; it costs nothing and keeps one schema for everyone.

CREATE TABLE IF NOT EXISTS dq_pgvector_migration (
  source_table text PRIMARY KEY,
  source_column text NOT NULL,
  -- format_type() of the pgvector column when it was last seen, e.g. vector(3072); rollback re-creates it.
  column_type text,
  -- pg_get_indexdef() of the indexes on that column when it was dropped; rollback re-creates them.
  index_definitions text[],
  pass_started_at timestamptz,
  -- Checkpoint: every row with id <= last_id has been handled by the current pass.
  last_id uuid,
  pass_completed_at timestamptz,
  rows_migrated bigint NOT NULL DEFAULT 0,
  verify_passed boolean,
  verified_at timestamptz,
  verify_report jsonb,
  cutover_at timestamptz,
  rolled_back_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration

DROP TABLE IF EXISTS dq_pgvector_migration;
