-- Version 13: the column SQLite's deferred full-text indexing uses (issue 20). PostgreSQL's
-- trigram GIN indexes already batch their insertions (the pending list of fastupdate), so here
-- every row is indexed as it is written and the column stays 1; it exists for one schema.
ALTER TABLE blob_text ADD COLUMN indexed SMALLINT NOT NULL DEFAULT 1;
