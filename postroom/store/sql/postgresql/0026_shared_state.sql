-- Version 26: per-node state moved into the database, so that any node of a cluster can serve
-- any request (docs/cluster.md "Per-node state"; no sticky sessions are promised). Additive
-- only: a node one version older ignores these tables (rolling upgrades).
-- Webmail compose sessions (services/webmail/compose_shared.py), used when cluster.enabled:
-- what the form held last (state, JSON), its staged attachments and their bytes in rows of
-- at most 1 MiB. touched (unix seconds) is when the session was last written: the janitor
-- removes sessions untouched for web.webmail.upload_keep_seconds. sending_until fences a
-- send, so two nodes cannot both send one message (a double click reaching two nodes).
CREATE TABLE compose_sessions (
  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  cid TEXT NOT NULL,
  state BYTEA NOT NULL,
  created BIGINT NOT NULL,
  touched BIGINT NOT NULL,
  sending_until BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, cid)
);
CREATE INDEX compose_sessions_touched ON compose_sessions(touched);
CREATE TABLE compose_parts (
  account_id BIGINT NOT NULL,
  cid TEXT NOT NULL,
  aid TEXT NOT NULL,
  name TEXT NOT NULL,
  content_type TEXT NOT NULL,
  size BIGINT NOT NULL,
  added DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (account_id, cid, aid),
  FOREIGN KEY (account_id, cid) REFERENCES compose_sessions(account_id, cid) ON DELETE CASCADE
);
CREATE TABLE compose_chunks (
  account_id BIGINT NOT NULL,
  cid TEXT NOT NULL,
  aid TEXT NOT NULL,
  seq INTEGER NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (account_id, cid, aid, seq),
  FOREIGN KEY (account_id, cid, aid) REFERENCES compose_parts(account_id, cid, aid)
    ON DELETE CASCADE
);
-- ActiveSync SendMail/SmartReply/SmartForward ClientIds already used (MS-ASCMD §2.2.2 common
-- Status 118: a repeated ClientId is not sent twice), used when
-- cluster.enabled: the device's retry may reach another node. Kept an hour (the janitor).
CREATE TABLE eas_sent (
  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  device_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  sent BIGINT NOT NULL,
  PRIMARY KEY (account_id, device_id, client_id)
);
CREATE INDEX eas_sent_time ON eas_sent(sent);
