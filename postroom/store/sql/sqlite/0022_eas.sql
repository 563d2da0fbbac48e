-- Version 22: Exchange ActiveSync devices and sync states (docs/eas.md, services/eas/).
-- A device is one phone or app of one user (the same DeviceId under two users is two rows):
-- its provisioning state and policy key, a pending remote wipe, whether it is blocked, and
-- what it told us about itself. A sync state is what one SyncKey stands for, per device and
-- collection (a folder's ServerId, or "hierarchy" for FolderSync): the current key's record
-- and the previous key's, so that a device repeating a request whose answer it never got is
-- answered the same instead of being reset (MS-ASCMD §3.1.5.3). Both go with the account.
CREATE TABLE eas_devices (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  device_id TEXT NOT NULL,
  device_type TEXT NOT NULL DEFAULT '',
  model TEXT NOT NULL DEFAULT '',
  friendly_name TEXT NOT NULL DEFAULT '',
  os TEXT NOT NULL DEFAULT '',
  user_agent TEXT NOT NULL DEFAULT '',
  version TEXT NOT NULL DEFAULT '',
  policy_key INTEGER NOT NULL DEFAULT 0,
  pending_key INTEGER NOT NULL DEFAULT 0,
  policy_state TEXT NOT NULL DEFAULT 'none',
  wipe TEXT NOT NULL DEFAULT 'none',
  blocked SMALLINT NOT NULL DEFAULT 0,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  last_sync INTEGER NOT NULL DEFAULT 0,
  UNIQUE (account_id, device_id)
);
CREATE TABLE eas_states (
  device INTEGER NOT NULL REFERENCES eas_devices(id) ON DELETE CASCADE,
  collection TEXT NOT NULL,
  sync_key INTEGER NOT NULL,
  data TEXT NOT NULL,
  previous_key INTEGER NOT NULL DEFAULT 0,
  previous_data TEXT NOT NULL DEFAULT '',
  updated INTEGER NOT NULL,
  PRIMARY KEY (device, collection)
);
