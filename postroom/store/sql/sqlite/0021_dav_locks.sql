-- Version 21: WebDAV locks of the file area (RFC 4918 §6-7, docs/dav/files.md). A lock is
-- kept here rather than in memory so that a restart does not silently drop a client's lock
-- (a client holding a token would then overwrite another's work). The locked
-- resource: ``area`` the owner's address (lower case), ``path`` the path inside the area
-- ("" for the area itself, "a/b" below it, no trailing slash); ``depth`` 0 or -1 (infinity);
-- ``expires`` epoch seconds: an expired row is ignored and swept on the next write.
CREATE TABLE dav_locks (
  token TEXT PRIMARY KEY,
  area TEXT NOT NULL,
  path TEXT NOT NULL,
  account_id INTEGER NOT NULL,
  exclusive INTEGER NOT NULL,
  depth INTEGER NOT NULL,
  owner TEXT NOT NULL DEFAULT '',
  timeout INTEGER NOT NULL,
  created INTEGER NOT NULL,
  expires INTEGER NOT NULL
);
CREATE INDEX dav_locks_area ON dav_locks (area);
CREATE INDEX dav_locks_expires ON dav_locks (expires);
