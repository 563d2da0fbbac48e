-- Version 17: logging in on the web (docs/web.md "Sessions", "Two-factor authentication",
-- "App passwords"). No secret is stored in a form that opens a door by itself: session ids and
-- recovery codes as SHA-256 digests (both are 128+ bits of randomness, so a digest cannot be
-- reversed by guessing), app passwords as argon2id hashes, TOTP secrets sealed with the data
-- directory's secret.key (directory/secretbox.py; the server must compute codes from them).

-- A web session: the SHA-256 of its cookie value, a public id (lists, "end this session"),
-- its realm ("webadmin", later "webmail"), its stage ("code": waiting for the second factor,
-- "enrol": must enrol TOTP first, "full": logged in), a digest of the account's password hash
-- at login (a password changed elsewhere ends the session), and its times: created_at bounds
-- the absolute lifetime, last_seen the idle timeout.
CREATE TABLE web_sessions (
  id_hash TEXT PRIMARY KEY,
  public_id TEXT NOT NULL UNIQUE,
  realm TEXT NOT NULL,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  stage TEXT NOT NULL,
  password_stamp TEXT NOT NULL,
  ip TEXT NOT NULL,
  user_agent TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX web_sessions_account ON web_sessions (account_id);
CREATE INDEX web_sessions_last_seen ON web_sessions (last_seen);

-- An account's TOTP secret (RFC 6238), sealed; confirmed_at is NULL while enrolment waits for
-- the first code; last_step is the newest time step accepted, so a code is never used twice.
CREATE TABLE totp_secrets (
  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  secret TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  confirmed_at INTEGER,
  last_step INTEGER NOT NULL DEFAULT 0
);

-- One-time recovery codes, as SHA-256 digests; used_at once spent.
CREATE TABLE recovery_codes (
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  code_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  used_at INTEGER,
  PRIMARY KEY (account_id, code_hash)
);

-- App passwords for mail clients: a name, the first characters of the password (a hint that
-- picks the row, so a login checks one argon2id hash, not all of them), the argon2id hash.
CREATE TABLE app_passwords (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  hint TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used INTEGER
);
CREATE INDEX app_passwords_account ON app_passwords (account_id);
