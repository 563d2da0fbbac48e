-- APOP secrets (RFC 1939 §7), sealed with the data directory's key (directory/secretbox.py).
CREATE TABLE apop_secrets (
  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  sealed TEXT NOT NULL
);

-- MultiPOP: remote POP3 accounts collected into a local account (issue 6).
CREATE TABLE multipop (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  host TEXT NOT NULL,
  port INTEGER NOT NULL,
  tls TEXT NOT NULL,
  tls_verify INTEGER NOT NULL DEFAULT 1,
  username TEXT NOT NULL,
  password TEXT NOT NULL,
  leave_on_server INTEGER NOT NULL DEFAULT 0,
  delete_after_days INTEGER,
  interval_s INTEGER NOT NULL,
  folder TEXT NOT NULL DEFAULT 'INBOX',
  enabled INTEGER NOT NULL DEFAULT 1,
  next_run INTEGER NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0,
  last_success INTEGER,
  last_error TEXT NOT NULL DEFAULT '',
  last_error_at INTEGER,
  last_fetched INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_until INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  UNIQUE (account_id, host, port, username)
);
CREATE INDEX multipop_due ON multipop (enabled, next_run);

-- What the collector has taken from each remote mailbox, by UIDL. A row is written in the
-- same transaction as the queue entry that carries the message, so a crash either records
-- both or neither: nothing is lost and nothing is fetched twice.
CREATE TABLE multipop_seen (
  remote_id INTEGER NOT NULL REFERENCES multipop(id) ON DELETE CASCADE,
  uidl TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  skipped INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (remote_id, uidl)
);
