-- Version 20: groupware (docs/dav.md). Calendars, address books, task lists, notes and the
-- file area are folders (mailboxes.kind) and their items are messages in them: the message's
-- blob is the iCalendar object, vCard or file as the client stored it. These tables index
-- what DAV needs without parsing items: the URL name a client chose, the ETag, the UID and
-- the time span (calendar-query prefilter), the search text (addressbook-query), dead
-- properties, and the URL segment a client gave a collection with MKCALENDAR/MKCOL.
-- A dav_items row outlives its message (expunged from IMAP or replaced by an edit): joined
-- with messages it is a live item, joined with the expunge log it is a sync-collection
-- removal (RFC 6578 §3.5). Everything goes with its folder (ON DELETE CASCADE).
CREATE TABLE dav_items (
  mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  uid BIGINT NOT NULL,
  name TEXT NOT NULL,
  etag TEXT NOT NULL,
  content_type TEXT NOT NULL,
  component TEXT NOT NULL,
  ical_uid TEXT NOT NULL,
  start_ts BIGINT,
  end_ts BIGINT,
  recurring SMALLINT NOT NULL DEFAULT 0,
  summary TEXT NOT NULL DEFAULT '',
  search TEXT NOT NULL DEFAULT '',
  size BIGINT NOT NULL,
  modified BIGINT NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX dav_items_name ON dav_items (mailbox_id, name);
CREATE INDEX dav_items_ical_uid ON dav_items (mailbox_id, ical_uid);
CREATE INDEX dav_items_span ON dav_items (mailbox_id, start_ts);
CREATE TABLE dav_props (
  mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  prop TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (mailbox_id, name, prop)
);
CREATE TABLE dav_segments (
  mailbox_id BIGINT PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,
  segment TEXT NOT NULL
);
