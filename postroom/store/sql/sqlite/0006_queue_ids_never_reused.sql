-- Queue IDs appear in SMTP replies ("queued as N") and in every log line about a message, so
-- one must never name two messages. SQLite reuses the largest rowid once it is deleted;
-- AUTOINCREMENT does not.
CREATE TABLE queue_new (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sender TEXT NOT NULL,
  recipients TEXT NOT NULL,
  blob TEXT NOT NULL,
  prefix BLOB NOT NULL,
  size INTEGER NOT NULL,
  params TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL DEFAULT 'ready',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt INTEGER NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
INSERT INTO queue_new SELECT id, sender, recipients, blob, prefix, size, params, state, attempts,
  next_attempt, last_error, created_at FROM queue;
DROP TABLE queue;
ALTER TABLE queue_new RENAME TO queue;
CREATE INDEX queue_due ON queue(state, next_attempt);
