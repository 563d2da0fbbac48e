-- Outbound authentication (docs/signing.md): DKIM keys per domain, and the BATV secrets.
-- Private keys and secrets are sealed with the data directory's secret.key
-- (directory/secretbox.py) before they reach these tables.

-- One row per DKIM key (RFC 6376 §3.6): its selector, algorithm (ed25519 or rsa), the sealed
-- private key, the public key as published in the p= tag, and its life: published from
-- created_at, signing from activate_at until a newer key of the same algorithm activates,
-- then still published for dkim.retire_after seconds, or until retire_at.
CREATE TABLE dkim_keys (
  id BIGSERIAL PRIMARY KEY,
  domain_id BIGINT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
  selector TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  private_key TEXT NOT NULL,
  public_key TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  activate_at BIGINT NOT NULL,
  retire_at BIGINT,
  UNIQUE (domain_id, selector)
);

-- The BATV signing keys (draft-levine-smtp-batv §4.1: the key number K is one digit). The
-- newest row signs; a replaced one still validates tags until retired_at + batv.valid_days.
CREATE TABLE batv_keys (
  number INTEGER PRIMARY KEY,
  secret TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  retired_at BIGINT
);
