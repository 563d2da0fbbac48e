-- Domain gateways (issue 7): domains we accept mail for on someone else's behalf (a backup MX)
-- and hold in the queue until a destination host takes it or the owner collects it by ATRN.
CREATE TABLE gateways (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  domain TEXT NOT NULL UNIQUE,
  deliver_to TEXT NOT NULL DEFAULT '',
  verify TEXT NOT NULL DEFAULT 'none',
  minger_host TEXT NOT NULL DEFAULT '',
  minger_secret TEXT,
  unverifiable TEXT NOT NULL DEFAULT 'defer',
  created_at INTEGER NOT NULL
);

-- The static recipient list of a gateway with verify = 'static'.
CREATE TABLE gateway_recipients (
  gateway_id INTEGER NOT NULL REFERENCES gateways(id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  PRIMARY KEY (gateway_id, address)
);

-- Accounts whose credentials may ATRN a gateway's mail (RFC 2645 §4).
CREATE TABLE gateway_atrn (
  gateway_id INTEGER NOT NULL REFERENCES gateways(id) ON DELETE CASCADE,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  PRIMARY KEY (gateway_id, account_id)
);

-- The gateway domain a queue entry is held for; NULL for every other entry.
ALTER TABLE queue ADD COLUMN hold_domain TEXT;
CREATE INDEX queue_hold ON queue (hold_domain, state);

-- The customer side of ODMR: providers we collect our domains' mail from by ATRN.
CREATE TABLE atrn_providers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  host TEXT NOT NULL,
  port INTEGER NOT NULL,
  tls TEXT NOT NULL,
  tls_verify INTEGER NOT NULL DEFAULT 1,
  username TEXT NOT NULL,
  password TEXT NOT NULL,
  domains TEXT NOT NULL DEFAULT '',
  interval_s INTEGER NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1,
  next_run INTEGER NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0,
  last_success INTEGER,
  last_error TEXT NOT NULL DEFAULT '',
  last_error_at INTEGER,
  last_received INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
