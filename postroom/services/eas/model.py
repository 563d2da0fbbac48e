"""What ActiveSync's services and front-end share: devices, admission, sync states.

Fixed in the skeleton of issue 25 so that the parts can be written side by side.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class PolicyState(enum.Enum):
    NONE = "none"  # never provisioned
    PENDING = "pending"  # phase 1 done: a temporary key handed out, not acknowledged yet
    PROVISIONED = "provisioned"  # acknowledged: the final policy key is current


class WipeState(enum.Enum):
    NONE = "none"
    REQUESTED = "requested"  # whole-device wipe (MS-ASPROV §3.2.5.1.2.1 RemoteWipe)
    ACCOUNT_REQUESTED = "account-requested"  # account-only wipe (AccountOnlyRemoteWipe, 16.1)
    SENT = "sent"  # the device was told; waiting for its acknowledgement
    DONE = "done"  # the device acknowledged (Status 1 in the wipe's Provision)


@dataclass(frozen=True, slots=True)
class Device:
    """One device of one user (a device id is unique per user, not globally: two users on
    one phone are two devices)."""

    id: int  # the store's row id
    account_id: int
    address: str  # the owner's address (for lists and logs)
    device_id: str
    device_type: str
    model: str = ""  # Settings DeviceInformation: Model, FriendlyName, OS, UserAgent…
    friendly_name: str = ""
    os: str = ""
    user_agent: str = ""
    version: str = ""  # the protocol version last used
    policy_key: int = 0  # the current policy key (0: none yet)
    policy_state: PolicyState = PolicyState.NONE
    wipe: WipeState = WipeState.NONE
    blocked: bool = False
    first_seen: float = 0.0  # Unix times
    last_seen: float = 0.0
    last_sync: float = 0.0  # the last Sync or Ping that succeeded


class Verdict(enum.Enum):
    """What the device registry says about a request before its command runs."""

    OK = "ok"
    BLOCKED = "blocked"  # HTTP 403 / Status 129
    NEEDS_PROVISIONING = "needs-provisioning"  # Status 142 (HTTP 449 for ≤ 12.1)
    POLICY_REFRESH = "policy-refresh"  # Status 143: the policy changed
    INVALID_POLICY_KEY = "invalid-policy-key"  # Status 144
    WIPE = "wipe"  # a wipe is pending: answer 140 so the device Provisions and gets it
    TOO_MANY_DEVICES = "too-many-devices"  # Status 177


@dataclass(frozen=True, slots=True)
class Admission:
    verdict: Verdict
    device: Device | None


@dataclass(slots=True)
class SyncState:
    """The state one SyncKey stands for, for one device and one collection (a folder id, or
    "hierarchy" for FolderSync). ``data`` is the owning command's own JSON-able record
    (which items the device has, at which version, the high-water mark); the store keeps
    the current key's and the previous key's, so that a device repeating its last request
    with the old key gets the same answer instead of a reset (MS-ASCMD §3.1.5.3)."""

    key: int  # the number inside the SyncKey (web/eas/ writes it as "{n}" or "{uuid}{n}")
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FolderRef:
    """A folder as a device sees it (services/eas/folders.py resolves ServerIds to these).

    ``server_id`` is the mailbox's store id as text: stable across renames and moves, never
    reused, and short (MS-ASCMD: ServerId ≤ 64 characters)."""

    server_id: str
    parent_id: str  # "0" at the root (MS-ASCMD §2.2.3.123)
    mailbox_id: int
    name: str  # the full IMAP name, as the gate knows it
    display_name: str  # the last segment (shared roots: "alice@example.com", …)
    kind: str  # the store's folder kind: mail, calendar, contacts, tasks, notes, journal
    eas_type: int  # MS-ASCMD §2.2.3.186.3 Type: 2 Inbox, 8 Calendar, 12 user mail, …
    item_class: str  # AirSync Class: Email, Calendar, Contacts, Tasks, Notes
    read_only: bool  # the gate's rights allow no change (a refused change gets its status)
