-- Version 24: cluster mode (docs/cluster.md). Additive only, so a node one version older keeps
-- working beside nodes that applied it (rolling upgrades).
-- The nodes of a cluster: each records itself at start and every heartbeat. ``lag_ms`` is the
-- node's last measured change-feed round trip (its own NOTIFY back to itself); ``key_id`` a
-- fingerprint of its secret key (every node must hold the same), never the key.
CREATE TABLE cluster_nodes (
  name TEXT PRIMARY KEY,
  version TEXT NOT NULL,
  schema_version BIGINT NOT NULL,
  started BIGINT NOT NULL,
  heartbeat BIGINT NOT NULL,
  pid BIGINT NOT NULL DEFAULT 0,
  address TEXT NOT NULL DEFAULT '',
  lag_ms REAL,
  key_id TEXT NOT NULL DEFAULT '',
  stopped BIGINT
);
-- A claimed queue entry names the node holding it and until when (unix seconds). Another node
-- may take it over only after ``lease_until``; every write-back checks ``owner``.
ALTER TABLE queue ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE queue ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
CREATE INDEX queue_lease ON queue(state, lease_until);
