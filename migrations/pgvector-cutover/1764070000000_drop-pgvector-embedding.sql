-- Up Migration
--
-- The cutover of `npm run migrate-pgvector -- --cutover`, never applied at start-up: this folder has its
-- own sequence (table pgmigrations_pgvector_cutover) and only that command runs it. It drops the
-- pgvector column of dq_embeddings once its vectors are in Qdrant, and the extension when nothing else
-- uses it and the role running this owns it. It refuses, inside the same transaction, unless the last
-- verification passed and no row still holds a vector that Qdrant lacks. Then, with the column and its
-- indexes gone (the HNSW one too), it writes qdrant_point_id for every migrated row in one statement:
-- the migration run recorded them in dq_pgvector_moved instead of updating the indexed old table.
-- New installations never had the column and never run this.

LOCK TABLE dq_embeddings IN ACCESS EXCLUSIVE MODE;

DO $$
DECLARE
  state dq_pgvector_migration%ROWTYPE;
  unmigrated bigint;
BEGIN
  SELECT * INTO state FROM dq_pgvector_migration WHERE source_table = 'dq_embeddings';
  IF NOT FOUND OR state.verify_passed IS NOT TRUE THEN
    RAISE EXCEPTION 'dq_embeddings has no passing verification since its last change: run npm run migrate-pgvector -- --verify first';
  END IF;
  IF NOT EXISTS (
    SELECT 1 FROM pg_attribute
    WHERE attrelid = 'dq_embeddings'::regclass AND attname = state.source_column AND NOT attisdropped
  ) THEN
    RAISE EXCEPTION 'dq_embeddings has no column %: nothing to cut over', state.source_column;
  END IF;
  EXECUTE format(
    'SELECT count(*) FROM dq_embeddings t WHERE t.%I IS NOT NULL AND t.qdrant_point_id IS NULL'
    ' AND NOT EXISTS (SELECT 1 FROM dq_pgvector_moved m WHERE m.source_table = %L AND m.id = t.id)',
    state.source_column, 'dq_embeddings')
    INTO unmigrated;
  IF unmigrated > 0 THEN
    RAISE EXCEPTION '% row(s) hold a vector that is not in Qdrant yet: run npm run migrate-pgvector, then --verify', unmigrated;
  END IF;
  UPDATE dq_pgvector_migration AS m
  SET column_type = format_type(a.atttypid, a.atttypmod),
      -- Every index that uses the column goes with it: on the column, on an expression of it
      -- ((embedding::halfvec(3072)) halfvec_cosine_ops) or with it in a partial index's predicate;
      -- pg_depend records all three. Their definitions come back on rollback.
      index_definitions = (
        SELECT coalesce(array_agg(pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid), '{}')
        FROM pg_index i
        WHERE i.indrelid = 'dq_embeddings'::regclass
          AND (
            a.attnum = ANY (i.indkey::int2[])
            OR EXISTS (
              SELECT 1 FROM pg_depend d
              WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                AND d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indrelid AND d.refobjsubid = a.attnum
            )
          )
      ),
      cutover_at = now(), rolled_back_at = NULL, updated_at = now()
  FROM pg_attribute a
  WHERE m.source_table = 'dq_embeddings'
    AND a.attrelid = 'dq_embeddings'::regclass AND a.attname = state.source_column AND NOT a.attisdropped;
  EXECUTE format('ALTER TABLE dq_embeddings DROP COLUMN %I', state.source_column);
  -- No vector index is left: one set-based write costs a b-tree insert per row.
  UPDATE dq_embeddings t
  SET qdrant_point_id = t.id::text
  FROM dq_pgvector_moved m
  WHERE m.source_table = 'dq_embeddings' AND m.id = t.id AND m.origin <> 'skipped' AND t.qdrant_point_id IS NULL;
END
$$;

-- Without CASCADE: when another column, index or function still uses pgvector, it stays. Only its
-- owner (or a superuser) may drop it; another role leaves it (the command says who can drop it).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector' AND pg_has_role(current_user, extowner, 'USAGE')) THEN
    DROP EXTENSION vector;
  END IF;
EXCEPTION WHEN dependent_objects_still_exist THEN
  RAISE NOTICE 'pgvector is still used by other objects in this database: the extension is kept';
END
$$;

-- Down Migration
--
-- The schema half of `npm run migrate-pgvector -- --rollback`: brings pgvector and the column back
-- with the type it had (recorded at cutover). The command then copies the vectors back from Qdrant
-- and re-creates the column's indexes (after the copy: building an index once beats updating it per row).

CREATE EXTENSION IF NOT EXISTS vector;

DO $$
DECLARE
  state dq_pgvector_migration%ROWTYPE;
  column_name text;
  column_type text;
BEGIN
  SELECT * INTO state FROM dq_pgvector_migration WHERE source_table = 'dq_embeddings';
  column_name := coalesce(state.source_column, 'embedding');
  column_type := coalesce(state.column_type, 'vector(3072)');
  IF column_type !~ '^(vector|halfvec)(\(\d+\))?$' THEN
    RAISE EXCEPTION 'recorded column type "%" is not a pgvector type', column_type;
  END IF;
  EXECUTE format('ALTER TABLE dq_embeddings ADD COLUMN IF NOT EXISTS %I %s', column_name, column_type);
  UPDATE dq_pgvector_migration SET cutover_at = NULL, updated_at = now() WHERE source_table = 'dq_embeddings';
END
$$;
