-- Send-as grants: an account may use these addresses (or "@domain" for any address of a
-- domain) in MAIL FROM and From: when submitting (issue 5).
CREATE TABLE send_as (
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  PRIMARY KEY (account_id, address)
);
