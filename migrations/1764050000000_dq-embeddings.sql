-- Up Migration
--
-- Brings `dq_embeddings` to the shape the service reads and writes, on a fresh database and on an
-- installation that kept vectors in pgvector (old columns: id, content, embedding vector(3072), kind,
-- catalog_id, metadata json). Every step is guarded, so it is safe on either and leaves old rows in
-- place. The `embedding` column is only made nullable (new rows carry no vector here: vectors live in
-- Qdrant); moving and dropping it is a later migration's job.

CREATE TABLE IF NOT EXISTS dq_embeddings (
  id uuid PRIMARY KEY,
  content text NOT NULL,
  kind text NOT NULL,
  catalog_id uuid NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb
);

-- Old installations: metadata was `json`; the store compares and filters on it, which needs jsonb.
DO $$
BEGIN
  IF EXISTS (
    SELECT 1
    FROM pg_attribute
    WHERE attrelid = 'dq_embeddings'::regclass
      AND attname = 'metadata'
      AND atttypid = 'json'::regtype
  ) THEN
    ALTER TABLE dq_embeddings ALTER COLUMN metadata DROP DEFAULT;
    ALTER TABLE dq_embeddings ALTER COLUMN metadata TYPE jsonb USING metadata::jsonb;
  END IF;
END
$$;

-- The service reads metadata as a JSON object: an old row's null becomes {}, any other non-object
-- value (array, string, number) is kept under "legacy_value".
UPDATE dq_embeddings SET metadata = '{}'::jsonb WHERE metadata IS NULL OR jsonb_typeof(metadata) = 'null';
UPDATE dq_embeddings SET metadata = jsonb_build_object('legacy_value', metadata) WHERE jsonb_typeof(metadata) <> 'object';
ALTER TABLE dq_embeddings ALTER COLUMN metadata SET DEFAULT '{}'::jsonb;
ALTER TABLE dq_embeddings ALTER COLUMN metadata SET NOT NULL;
ALTER TABLE dq_embeddings ALTER COLUMN content SET NOT NULL;
ALTER TABLE dq_embeddings ALTER COLUMN kind SET NOT NULL;
ALTER TABLE dq_embeddings ALTER COLUMN catalog_id SET NOT NULL;

-- Upserts rely on ON CONFLICT (id): make sure an old table has its primary key.
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_constraint WHERE conrelid = 'dq_embeddings'::regclass AND contype = 'p'
  ) THEN
    ALTER TABLE dq_embeddings ADD PRIMARY KEY (id);
  END IF;
END
$$;

-- New rows have no pgvector value: their vector is in Qdrant.
DO $$
BEGIN
  IF EXISTS (
    SELECT 1
    FROM pg_attribute
    WHERE attrelid = 'dq_embeddings'::regclass
      AND attname = 'embedding'
      AND attnotnull
      AND NOT attisdropped
  ) THEN
    ALTER TABLE dq_embeddings ALTER COLUMN embedding DROP NOT NULL;
  END IF;
END
$$;

ALTER TABLE dq_embeddings ADD COLUMN IF NOT EXISTS qdrant_point_id text;
ALTER TABLE dq_embeddings ADD COLUMN IF NOT EXISTS schema_name text;
ALTER TABLE dq_embeddings ADD COLUMN IF NOT EXISTS table_name text;
ALTER TABLE dq_embeddings ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'pending';
ALTER TABLE dq_embeddings ADD COLUMN IF NOT EXISTS content_hash text;
ALTER TABLE dq_embeddings ADD COLUMN IF NOT EXISTS model text;
ALTER TABLE dq_embeddings ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE dq_embeddings ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();

-- Old rows: the hash is computed from their content (hex sha256, as the service computes it); their
-- vectors came from the existing deployment's model, text-embedding-3-large.
UPDATE dq_embeddings SET content_hash = encode(sha256(convert_to(content, 'UTF8')), 'hex') WHERE content_hash IS NULL;
UPDATE dq_embeddings SET model = 'text-embedding-3-large' WHERE model IS NULL;
ALTER TABLE dq_embeddings ALTER COLUMN content_hash SET NOT NULL;
ALTER TABLE dq_embeddings ALTER COLUMN model SET NOT NULL;

DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_constraint WHERE conrelid = 'dq_embeddings'::regclass AND conname = 'dq_embeddings_status_check'
  ) THEN
    ALTER TABLE dq_embeddings
      ADD CONSTRAINT dq_embeddings_status_check CHECK (status IN ('pending', 'accepted', 'rejected'));
  END IF;
  IF NOT EXISTS (
    SELECT 1 FROM pg_constraint WHERE conrelid = 'dq_embeddings'::regclass AND conname = 'dq_embeddings_metadata_object_check'
  ) THEN
    ALTER TABLE dq_embeddings
      ADD CONSTRAINT dq_embeddings_metadata_object_check CHECK (jsonb_typeof(metadata) = 'object');
  END IF;
END
$$;

-- Keyset paging within a catalog, counts and listings by status, and reconcile's lookups by point id.
CREATE INDEX IF NOT EXISTS dq_embeddings_catalog_id_id_idx ON dq_embeddings (catalog_id, id);
CREATE INDEX IF NOT EXISTS dq_embeddings_catalog_id_status_idx ON dq_embeddings (catalog_id, status);
CREATE INDEX IF NOT EXISTS dq_embeddings_qdrant_point_id_idx ON dq_embeddings (qdrant_point_id);

-- Down Migration
--
-- Removes what the up migration added. A table this migration created (no pgvector `embedding`
-- column) is dropped; an old installation's table keeps its original columns and rows.

DROP INDEX IF EXISTS dq_embeddings_qdrant_point_id_idx;
DROP INDEX IF EXISTS dq_embeddings_catalog_id_status_idx;
DROP INDEX IF EXISTS dq_embeddings_catalog_id_id_idx;

DO $$
BEGIN
  IF to_regclass('dq_embeddings') IS NULL THEN
    RETURN;
  END IF;
  IF EXISTS (
    SELECT 1 FROM pg_attribute
    WHERE attrelid = 'dq_embeddings'::regclass AND attname = 'embedding' AND NOT attisdropped
  ) THEN
    ALTER TABLE dq_embeddings
      DROP CONSTRAINT IF EXISTS dq_embeddings_status_check,
      DROP CONSTRAINT IF EXISTS dq_embeddings_metadata_object_check,
      DROP COLUMN IF EXISTS qdrant_point_id,
      DROP COLUMN IF EXISTS schema_name,
      DROP COLUMN IF EXISTS table_name,
      DROP COLUMN IF EXISTS status,
      DROP COLUMN IF EXISTS content_hash,
      DROP COLUMN IF EXISTS model,
      DROP COLUMN IF EXISTS created_at,
      DROP COLUMN IF EXISTS updated_at;
  ELSE
    DROP TABLE dq_embeddings;
  END IF;
END
$$;
