-- Version 15: accounts that opted out of spam filtering (the spamd check; issue 21).
-- A row means "do not score my mail"; no row is the default (filtered). A table of its own
-- rather than a column on accounts, so the account record and its queries stay as they are.
CREATE TABLE spam_filter_optout (
  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  since INTEGER NOT NULL
);
