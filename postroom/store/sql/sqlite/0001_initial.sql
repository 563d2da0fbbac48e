-- Postroom schema version 1 (SQLite). Forward-only: never edit a released migration.
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE domains (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE TABLE accounts (
  id INTEGER PRIMARY KEY,
  domain_id INTEGER NOT NULL REFERENCES domains(id),
  address TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL DEFAULT '',
  scram TEXT NOT NULL DEFAULT '',
  quota_bytes INTEGER,
  used_bytes INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'active',
  created_at INTEGER NOT NULL
);
CREATE TABLE aliases (
  id INTEGER PRIMARY KEY,
  domain_id INTEGER NOT NULL REFERENCES domains(id),
  address TEXT NOT NULL UNIQUE,
  targets TEXT NOT NULL
);
CREATE TABLE mail_groups (
  id INTEGER PRIMARY KEY,
  domain_id INTEGER NOT NULL REFERENCES domains(id),
  address TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE group_members (
  group_id INTEGER NOT NULL REFERENCES mail_groups(id) ON DELETE CASCADE,
  member TEXT NOT NULL,
  PRIMARY KEY (group_id, member)
);
CREATE TABLE admin_roles (
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  domain_id INTEGER NOT NULL,
  PRIMARY KEY (account_id, domain_id)
);
CREATE TABLE mailboxes (
  id INTEGER PRIMARY KEY,
  owner_id INTEGER REFERENCES accounts(id) ON DELETE CASCADE,
  owner_key INTEGER NOT NULL,
  domain_id INTEGER,
  name TEXT NOT NULL,
  parent_id INTEGER,
  kind TEXT NOT NULL DEFAULT 'mail',
  special_use TEXT NOT NULL DEFAULT '',
  address TEXT UNIQUE,
  uidvalidity INTEGER NOT NULL,
  uidnext INTEGER NOT NULL DEFAULT 1,
  highestmodseq INTEGER NOT NULL DEFAULT 1,
  message_count INTEGER NOT NULL DEFAULT 0,
  total_size INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  UNIQUE (owner_key, name)
);
CREATE INDEX mailboxes_parent ON mailboxes(parent_id);
CREATE TABLE acl (
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  identifier TEXT NOT NULL,
  rights TEXT NOT NULL,
  PRIMARY KEY (mailbox_id, identifier)
);
CREATE INDEX acl_identifier ON acl(identifier);
CREATE TABLE subscriptions (
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  PRIMARY KEY (account_id, name)
);
CREATE TABLE blobs (
  sha256 TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  refcount INTEGER NOT NULL,
  zero_since INTEGER
);
CREATE INDEX blobs_zero ON blobs(zero_since) WHERE refcount = 0;
CREATE TABLE messages (
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  flags INTEGER NOT NULL DEFAULT 0,
  keywords TEXT NOT NULL DEFAULT '',
  internal_date INTEGER NOT NULL,
  size INTEGER NOT NULL,
  blob TEXT NOT NULL,
  prefix BLOB NOT NULL,
  meta TEXT NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE TABLE seen (
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  account_id INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  PRIMARY KEY (mailbox_id, account_id, uid)
);
CREATE TABLE expunged (
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
);
CREATE TABLE queue (
  id INTEGER PRIMARY KEY,
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
CREATE INDEX queue_due ON queue(state, next_attempt);
