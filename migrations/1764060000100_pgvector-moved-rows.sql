-- Up Migration
--
-- Progress of `npm run migrate-pgvector`, kept beside dq_embeddings instead of in it: one narrow row
-- per source row handled by the migration. Writing `qdrant_point_id` into the old table per batch
-- re-inserted every row into every index of that table, the 3072-dimension HNSW one included (about
-- 200 rows/s on a real installation); a row here costs a b-tree insert. `qdrant_point_id` (always
-- equal to the id) is set from this table in one set-based statement: at the end of a pass when no
-- index uses the pgvector column, otherwise at cutover, right after that column and its indexes are
-- dropped. Rollback reads `origin` to put NULL back where the source had no usable vector.

CREATE TABLE IF NOT EXISTS dq_pgvector_moved (
  source_table text NOT NULL,
  id uuid NOT NULL,
  -- pgvector: the row's own vector was upserted; reembedded: its vector was null or of another
  -- dimension and its content was embedded again; skipped: excluded by --skip-missing (no point).
  origin text NOT NULL CHECK (origin IN ('pgvector', 'reembedded', 'skipped')),
  moved_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_table, id)
);

-- Down Migration

DROP TABLE IF EXISTS dq_pgvector_moved;
