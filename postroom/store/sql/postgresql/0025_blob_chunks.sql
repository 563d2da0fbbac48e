-- Version 25: blobs kept in the database itself (blobs.backend = "postgresql", docs/cluster.md),
-- so that every node of a cluster reaches them. A blob is cut into rows of at most
-- blobs.chunk_size octets; ``start`` is the chunk's first octet in the blob (reads seek by it).
-- ``created`` is refreshed when the same content is stored again, so garbage collection spares
-- a blob being re-used (as the files backend refreshes a file's mtime). Additive.
CREATE TABLE blob_chunks (
  sha256 TEXT NOT NULL,
  seq INTEGER NOT NULL,
  start BIGINT NOT NULL,
  data BYTEA NOT NULL,
  created BIGINT NOT NULL,
  PRIMARY KEY (sha256, seq)
);
