"""The contract between the Sync command (web/eas/sync.py) and the item classes.

Sync is the same dance for every class (MS-ASCMD §2.2.1.21): load the state of the client's
SyncKey, apply the client's Commands, collect the server's changes up to WindowSize, save the
new state under a new key, answer. What differs is what an item is: a message (Email), an
iCalendar event (Calendar), a vCard (Contacts), a VTODO (Tasks). Each class is a module of
web/eas/ implementing ``ItemClass``, found by ``class_for``; it calls services/eas/ (mail or
pim), which call the gate, and translates between ApplicationData and the stored item.

``state`` is the class's own JSON-able record for one collection (what the device has), kept
by services/eas/states.py under each SyncKey; a class updates it in place when it applies a
client's change, so that the change is not echoed back to the device.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from postroom.protocols.eas.element import Element
from postroom.services.eas.model import FolderRef
from postroom.web.eas.common import CommandContext


@dataclass(frozen=True, slots=True)
class BodyPreference:
    """AirSyncBase:BodyPreference (MS-ASAIRS §2.2.2.7)."""

    type: int  # 1 plain text, 2 HTML, 3 RTF, 4 MIME
    truncation_size: int | None = None
    all_or_none: bool = False
    preview: int | None = None  # 14.0+: characters of plain-text preview


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """AirSync:Options of one collection (MS-ASCMD §2.2.3.125), with defaults."""

    filter_type: int = 0  # 0 all; 1 day … 7 six months (mail, calendar); 8 incomplete tasks
    body_preferences: tuple[BodyPreference, ...] = ()
    mime_support: int = 0  # 0 never MIME, 1 for S/MIME only, 2 always
    mime_truncation: int | None = None  # 0-8 (MS-ASCMD §2.2.3.108)
    truncation: int | None = None  # ≤ 12.x AirSync:Truncation
    conflict: int = 1  # 0 client wins, 1 server wins (the default)
    deletes_as_moves: bool = True  # a client Delete moves mail to Deleted Items
    max_items: int | None = None


ChangeKind = Literal["Add", "Change", "Delete", "SoftDelete"]


@dataclass(slots=True)
class ServerChange:
    kind: ChangeKind
    server_id: str
    data: Element | None = None  # AirSync:ApplicationData for Add and Change


@dataclass(slots=True)
class ChangeBatch:
    changes: list[ServerChange] = field(default_factory=list)
    more: bool = False  # MoreAvailable: more changes wait beyond the window
    state: dict[str, Any] = field(default_factory=dict)  # the state after these changes


class ItemClass(Protocol):
    """One item class (module-level functions of web/eas/<class>.py)."""

    async def changes(self, ctx: CommandContext, folder: FolderRef, state: dict[str, Any],
                      options: SyncOptions, window: int) -> ChangeBatch:
        """The server's changes since ``state``, at most ``window``; an empty state (key 1
        right after priming) means everything that passes the filter is an Add."""
        ...

    async def estimate(self, ctx: CommandContext, folder: FolderRef, state: dict[str, Any],
                       options: SyncOptions) -> int:
        """How many changes ``changes`` would report, without rendering them."""
        ...

    async def add(self, ctx: CommandContext, folder: FolderRef, data: Element,
                  state: dict[str, Any]) -> tuple[int, str | None]:
        """A client's Add: (AirSync Status, the new ServerId or None when refused)."""
        ...

    async def change(self, ctx: CommandContext, folder: FolderRef, server_id: str,
                     data: Element, state: dict[str, Any]) -> int:
        """A client's Change: its AirSync Status (1 ok, 6 error, 7 conflict, 8 not found)."""
        ...

    async def delete(self, ctx: CommandContext, folder: FolderRef, server_id: str,
                     state: dict[str, Any], *, to_trash: bool) -> int:
        """A client's Delete: its AirSync Status."""
        ...

    async def fetch(self, ctx: CommandContext, folder: FolderRef, server_id: str,
                    options: SyncOptions) -> Element | int:
        """One item's ApplicationData (Sync Fetch, ItemOperations Fetch), or a status."""
        ...


# AirSync Class → the module that implements it
MODULES: dict[str, str] = {"Email": "email", "Calendar": "calendar",
                           "Contacts": "contacts", "Tasks": "tasks"}


def class_for(item_class: str) -> ItemClass | None:
    """The implementation of an item class, looked up at call time (None: not available)."""
    module = MODULES.get(item_class)
    if module is None:
        return None
    try:
        mod = importlib.import_module(f"postroom.web.eas.{module}")
    except ImportError:
        return None
    # a module is the class itself (email.py), or holds it as ITEM_CLASS (the PIM classes)
    found: Any = getattr(mod, "ITEM_CLASS", mod)
    return found if hasattr(found, "changes") else None
