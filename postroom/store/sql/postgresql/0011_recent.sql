-- \Recent (RFC 3501 §2.3.2): the highest UID some read-write session has already been told
-- about; a message above it is still recent and goes to the next session that claims it.
-- Existing mail is not made recent again by the upgrade.
ALTER TABLE mailboxes ADD COLUMN recent_uid BIGINT NOT NULL DEFAULT 0;
UPDATE mailboxes SET recent_uid = uidnext - 1;
