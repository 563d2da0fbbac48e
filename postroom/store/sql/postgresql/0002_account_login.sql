-- Version 2: remember when an account last logged in (shown by `postroom user show`).
ALTER TABLE accounts ADD COLUMN last_login BIGINT;
