-- Version 19: webmail's per-user state (docs/webmail.md). Messages, drafts and folders are not
-- here: they live in the mail store like any other mail. What is here is the user's own
-- choices (signature, density, time zone, language: one JSON document, read and written whole),
-- the recipients they wrote to (address completion) and the senders whose remote images they
-- allowed. Everything goes with its account (ON DELETE CASCADE).
CREATE TABLE webmail_prefs (
  account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  data TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE webmail_recipients (
  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  name TEXT NOT NULL,
  uses BIGINT NOT NULL,
  last_used BIGINT NOT NULL,
  PRIMARY KEY (account_id, address)
);
CREATE INDEX webmail_recipients_recent ON webmail_recipients (account_id, last_used);
CREATE TABLE webmail_image_senders (
  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  since BIGINT NOT NULL,
  PRIMARY KEY (account_id, address)
);
