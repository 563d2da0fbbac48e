-- Version 13: full-text indexing after the delivery commit, in batches (issue 20).
-- A new blob_text row starts unindexed (indexed = 0) and the background indexer adds it to
-- blob_fts later, many rows per transaction; SEARCH reads unindexed rows directly, so mail is
-- found the moment it is delivered. Rows already there are indexed.
ALTER TABLE blob_text ADD COLUMN indexed INTEGER NOT NULL DEFAULT 1;
CREATE INDEX blob_text_pending ON blob_text(id) WHERE indexed = 0;
