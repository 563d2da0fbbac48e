"""The values services/dav/ hands to its front-ends (web/dav/, webmail, the CLI and API,
later ActiveSync). They carry rights, never letters: a front-end asks ``access.dav`` (DAV) or
the handle's ``allows`` to translate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from postroom.access.gate import MailboxHandle
from postroom.core.principal import Principal

# URL families of collections (web/dav/ paths): which folder kinds each home shows
FAMILY_KINDS: dict[str, frozenset[str]] = {
    "calendars": frozenset({"calendar", "tasks", "notes", "journal"}),
    "addressbooks": frozenset({"contacts"}),
    "files": frozenset({"documents"}),
}


@dataclass(frozen=True, slots=True)
class Collection:
    """A calendar, task list, notes folder, address book or file-area folder as one viewer
    sees it. ``handle`` is the gate's key to it (None for the virtual global address list,
    which is read-only and built from the directory).

    ``segment``: its URL segment under the viewer's home (web/dav/: the folder id, or the name
    a client gave it with MKCALENDAR/MKCOL); ``name``: the folder as IMAP LIST shows it to the
    viewer; ``owner``: the owner's address, None for public folders; ``props``: dead and
    settable properties in Clark notation ("{DAV:}displayname", "{http://apple.com/ns/ical/}
    calendar-color", ...) -> XML text of the value."""

    segment: str
    kind: str
    name: str
    displayname: str
    owner: str | None
    handle: MailboxHandle | None
    components: tuple[str, ...] = ()
    ctag: str = ""
    sync_token: str = ""
    props: dict[str, str] = field(default_factory=dict)
    virtual: str = ""  # "directory" for the global address list, "inbox"/"outbox" (RFC 6638)


@dataclass(frozen=True, slots=True)
class ItemRef:
    """One stored item (a resource in a collection) without its content."""

    name: str  # URL segment, as the client stored it
    etag: str  # strong, quoted: '"<hash>"'
    size: int
    content_type: str
    modseq: int
    component: str = ""
    uid: str = ""  # the iCalendar/vCard UID
    summary: str = ""
    start: int | None = None
    end: int | None = None
    recurring: bool = False
    modified: int = 0  # epoch seconds (getlastmodified)


@dataclass(frozen=True, slots=True)
class Item:
    ref: ItemRef
    data: bytes


@dataclass(frozen=True, slots=True)
class PutResult:
    ref: ItemRef
    created: bool  # 201 (new) or 204 (replaced)


@dataclass(frozen=True, slots=True)
class SyncChanges:
    """RFC 6578 §3.5: what changed since a token. ``removed``: names of members gone."""

    token: str
    changed: list[ItemRef]
    removed: list[str]
    truncated: bool = False


class ItemListener(Protocol):
    """Told after an item was stored or deleted (``old``/``new`` None for create/delete)."""

    async def item_changed(self, principal: Principal, coll: Collection, old: Item | None,
                           new: Item | None) -> None: ...


class PreconditionFailed(Exception):
    """An If-Match / If-None-Match condition (RFC 7232 §3.1, §3.2) did not hold, or the
    item changed between the check and the write: HTTP 412."""


class UidConflict(ValueError):
    """RFC 4791 §5.3.2.1 / RFC 6352 §6.3.2.1 no-uid-conflict: another resource of the
    collection (``name``) already holds this UID."""

    def __init__(self, precondition: tuple[str, str], name: str) -> None:
        super().__init__(f"the UID is already used by {name}")
        self.precondition = precondition
        self.name = name
