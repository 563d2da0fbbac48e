-- Version 16: dynamic screening blocks and greylisting state (docs/screening.md), kept in the
-- store so that a restart keeps them and every node of a cluster shares them.
-- A block: a client address or network refused at connect until expires_at (NULL = until an
-- administrator lifts it).
CREATE TABLE screening_blocks (
  network TEXT PRIMARY KEY,
  created_at BIGINT NOT NULL,
  expires_at BIGINT,
  reason TEXT NOT NULL,
  source TEXT NOT NULL
);
CREATE INDEX screening_blocks_expires ON screening_blocks (expires_at);
-- A greylisting triplet (client network, envelope sender, recipient): first seen, last seen,
-- and when a retry after the delay let it through (NULL = not yet).
CREATE TABLE greylist (
  client_net TEXT NOT NULL,
  sender TEXT NOT NULL,
  recipient TEXT NOT NULL,
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  passed_at BIGINT,
  PRIMARY KEY (client_net, sender, recipient)
);
CREATE INDEX greylist_last_seen ON greylist (last_seen);
-- Senders that passed before: (client network, sender domain) and how many triplets of
-- theirs passed; past greylisting.auto_allow_after they are no longer greylisted.
CREATE TABLE greylist_allow (
  client_net TEXT NOT NULL,
  sender_domain TEXT NOT NULL,
  passes INTEGER NOT NULL,
  last_seen BIGINT NOT NULL,
  PRIMARY KEY (client_net, sender_domain)
);
