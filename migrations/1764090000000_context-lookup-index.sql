-- Up Migration
--
-- RetrieveContext reads, besides its hits, the table and key-column chunks of up to ten tables of one
-- catalog (`getContextRows`). Without this index that half of the query scans every row of the catalog
-- (7-10 ms on a catalog of 5,000 chunks, and it grows with the catalog); with it, a few index probes.
-- On a large existing table, building it holds writes back for as long as the build takes.

CREATE INDEX IF NOT EXISTS dq_embeddings_catalog_table_idx ON dq_embeddings (catalog_id, schema_name, table_name);

-- Down Migration

DROP INDEX IF EXISTS dq_embeddings_catalog_table_idx;
