-- Version 4: the search index for IMAP SEARCH TEXT/BODY/headers (RFC 9051 §6.4.4).
-- One row per blob; trigram GIN indexes answer ILIKE '%word%' (pg_trgm is a trusted
-- extension since PostgreSQL 13: the database owner may create it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE blob_text (
  sha256 TEXT PRIMARY KEY,
  hdr TEXT NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX blob_text_hdr ON blob_text USING gin (hdr gin_trgm_ops);
CREATE INDEX blob_text_body ON blob_text USING gin (body gin_trgm_ops);
