-- Version 4: the search index for IMAP SEARCH TEXT/BODY/headers (RFC 9051 §6.4.4).
-- One row per blob (a message copied to many folders is indexed once). The FTS5 table uses the
-- trigram tokenizer so that LIKE '%word%' (IMAP's case-insensitive substring match) is answered
-- from the index; it is an external-content table over blob_text, kept in step by the
-- repository (insert on first reference, delete at blob garbage collection).
CREATE TABLE blob_text (
  id INTEGER PRIMARY KEY,
  sha256 TEXT NOT NULL UNIQUE,
  hdr TEXT NOT NULL,
  body TEXT NOT NULL
);
CREATE VIRTUAL TABLE blob_fts USING fts5(hdr, body, content='blob_text', content_rowid='id',
  tokenize='trigram');
