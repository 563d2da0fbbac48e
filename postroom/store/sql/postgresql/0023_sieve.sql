-- Version 23: Sieve scripts and the Sieve memory (docs/sieve.md, services/sieve/).
-- A script belongs to an account (phase 'user': the scripts a user keeps, at most one of them
-- active), or to the administrators: of a domain (domain_id set) or of the whole server (both
-- owners NULL), phase 'before' or 'after' (run before or after every user script of their
-- scope, one script per scope and phase) or 'global' (named scripts that users' scripts may
-- include :global, RFC 6609 §3.2). ``hash`` is the SHA-256 of the content: compiled scripts
-- are cached by it. Scripts go with their owner.
CREATE TABLE sieve_scripts (
  id BIGSERIAL PRIMARY KEY,
  account_id BIGINT REFERENCES accounts(id) ON DELETE CASCADE,
  domain_id BIGINT REFERENCES domains(id) ON DELETE CASCADE,
  phase TEXT NOT NULL,
  name TEXT NOT NULL,
  content TEXT NOT NULL,
  size BIGINT NOT NULL,
  hash TEXT NOT NULL,
  active SMALLINT NOT NULL DEFAULT 0,
  updated BIGINT NOT NULL
);
CREATE UNIQUE INDEX sieve_scripts_user ON sieve_scripts (account_id, name)
  WHERE account_id IS NOT NULL;
-- one active script per account (RFC 5804 §2.8: activating one deactivates the other)
CREATE UNIQUE INDEX sieve_scripts_active ON sieve_scripts (account_id)
  WHERE account_id IS NOT NULL AND active = 1;
CREATE UNIQUE INDEX sieve_scripts_admin ON sieve_scripts (coalesce(domain_id, 0), phase, name)
  WHERE account_id IS NULL;
-- What Sieve remembers between deliveries, per account: vacation replies sent (RFC 5230 §4.2,
-- once per sender and handle per period) and messages seen by the duplicate test (RFC 7352).
-- ``key_hash`` is a hash of what is tracked (never the addresses in clear); a row is
-- forgotten after ``expires`` (unix seconds).
CREATE TABLE sieve_memory (
  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  key_hash TEXT NOT NULL,
  expires BIGINT NOT NULL,
  PRIMARY KEY (account_id, kind, key_hash)
);
CREATE INDEX sieve_memory_expires ON sieve_memory (expires);
