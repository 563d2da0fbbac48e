-- Version 12: SORT keys stored with each message (RFC 5256 §2.1-§3, RFC 5957 §3), written when
-- the row is inserted (postroom/mime/sortkeys.py computes them from the stored ENVELOPE), so
-- SORT orders in SQL instead of decoding every ENVELOPE. Text keys are UTF-8 octets (BLOB:
-- memcmp order is code point order, no collation involved); the sent date is REAL.
-- Rows from before this version have NULL keys: the first SORT of their mailbox fills them
-- (store/repo/sortkeys.py), found through messages_sort_pending, which is empty afterwards.
ALTER TABLE messages ADD COLUMN sort_subject BLOB;
ALTER TABLE messages ADD COLUMN sort_from BLOB;
ALTER TABLE messages ADD COLUMN sort_to BLOB;
ALTER TABLE messages ADD COLUMN sort_cc BLOB;
ALTER TABLE messages ADD COLUMN sort_displayfrom BLOB;
ALTER TABLE messages ADD COLUMN sort_displayto BLOB;
ALTER TABLE messages ADD COLUMN sort_date REAL;
CREATE INDEX messages_sort_pending ON messages(mailbox_id, uid) WHERE sort_subject IS NULL;
-- SORT (SUBJECT) is an index-only scan in key order (the UID breaks ties, RFC 5256 §3);
-- SORT (DATE) the most common client order, likewise. Other keys sort their rows in SQL.
CREATE INDEX messages_sort_subject ON messages(mailbox_id, sort_subject, uid);
CREATE INDEX messages_sort_date ON messages(mailbox_id, sort_date, uid);
-- UNSEEN (SEARCH UNSEEN, SELECT's first unseen, STATUS UNSEEN) reads only the unseen
-- messages' entries instead of testing the flag bit of every message in the mailbox.
CREATE INDEX messages_unseen ON messages(mailbox_id, uid) WHERE (flags & 1) = 0;
