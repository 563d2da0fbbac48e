-- Version 18: API tokens for the JSON API (docs/api.md). Only the SHA-256 of a token is kept:
-- the token itself is shown once, when it is made. A token belongs to an account and carries
-- a scope: "admin" (the owner's administrator rights), "domain:NAME" (administrator of that
-- domain only) or "self" (the owner's own account). Removing the account removes its tokens.
CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  token_hash TEXT NOT NULL UNIQUE,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  scope TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  last_used INTEGER,
  revoked_at INTEGER
);
CREATE INDEX api_tokens_account ON api_tokens (account_id);
