-- Version 5: a narrow covering index for the per-message columns IMAP reads in bulk (the UID
-- list at SELECT, FLAGS and MODSEQ for FETCH/STORE/QRESYNC, UNSEEN, the non-text SEARCH keys).
-- The table rows also hold the MIME scan and prefix, so scanning the table for a 100,000-message
-- mailbox reads pages full of JSON; this index answers those queries on its own.
CREATE INDEX messages_hot ON messages(mailbox_id, uid, flags, modseq, internal_date, size,
  keywords);
