-- Version 5: a narrow covering index for the per-message columns IMAP reads in bulk (the UID
-- list at SELECT, FLAGS and MODSEQ for FETCH/STORE/QRESYNC, UNSEEN, the non-text SEARCH keys),
-- so those queries run as index-only scans instead of reading rows that hold the MIME scan.
CREATE INDEX messages_hot ON messages(mailbox_id, uid) INCLUDE (flags, modseq, internal_date,
  size, keywords);
