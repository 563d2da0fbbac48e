"""Calendar, contacts and tasks items for ActiveSync: DAV items, through services/dav/.

One event is one stored iCalendar object that CalDAV, webmail and a phone all read, so this
service never touches the store: it finds the folder's DAV collection (the gate's handle
comes with it, so a folder the user may not list is missing here as everywhere) and calls
``dav.items`` for every read and write (Op.ITEM_READ, ITEM_CREATE, ITEM_EDIT, ITEM_DELETE
are checked there; an edit is insert-new plus delete-old, and implicit scheduling follows a
change as it does for CalDAV).

Item ids (MS-ASCMD §2.2.3.166.6 ServerId, at most 64 characters): ``<folder id>:<short>``,
where ``short`` is the DAV resource name without its extension when short and plain, else a
hash of it. The DAV name survives an edit (the store's UID does not), so the id is stable
across edits made by any protocol.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import Callable

from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.services.dav.model import Collection, Item, ItemRef, PreconditionFailed, UidConflict
from postroom.services.dav.scheduling import item_name
from postroom.services.eas.context import EasContext
from postroom.services.eas.folders import Folders
from postroom.services.eas.model import FolderRef

_PLAIN = re.compile(r"^[A-Za-z0-9._@-]{1,40}$")
_FAMILY = {"calendar": "calendars", "tasks": "calendars", "contacts": "addressbooks"}
CONTENT_TYPES = {"calendars": "text/calendar; charset=utf-8",
                 "addressbooks": "text/vcard; charset=utf-8"}
_EXTENSIONS = {"calendars": ".ics", "addressbooks": ".vcf"}
ANSWER_TRIES = 3  # a meeting answer racing scheduling's writes to the same copy: again


def short_id(name: str, extension: str) -> str:
    """The item part of a ServerId for a DAV resource name: the name without the family's
    extension (".ics", ".vcf") when it is short and plain, so that the name is known from
    the id without a listing; any other name (no such extension, long, unusual characters,
    or a stem that looks like a hash) is ``h-`` and a hash of it. One name, one id; two
    names never share one."""
    if name.endswith(extension):
        stem = name[:-len(extension)]
        if _PLAIN.match(stem) and not stem.startswith("h-"):
            return stem
    return "h-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]


def extension_of(kind: str) -> str:
    return _EXTENSIONS.get(_FAMILY.get(kind, ""), ".ics")


def server_id(folder: FolderRef, name: str) -> str:
    return f"{folder.server_id}:{short_id(name, extension_of(folder.kind))}"


class PimItems:
    def __init__(self, ctx: EasContext, folders: Folders) -> None:
        self._ctx = ctx
        self._folders = folders

    async def collection(self, principal: Principal, folder: FolderRef) -> Collection:
        """The DAV collection of a folder the device synchronises; MailError NOT_FOUND when
        it is gone or no longer visible (the same answer for both)."""
        family = _FAMILY.get(folder.kind)
        if family is None:
            raise MailError(Kind.NOT_FOUND, f"no PIM folder {folder.server_id}")
        for coll in await self._ctx.dav.collections.home(principal, family):
            if coll.handle is not None and coll.handle.id == folder.mailbox_id:
                return coll
        raise MailError(Kind.NOT_FOUND, f"no PIM folder {folder.server_id}")

    async def listing(self, principal: Principal,
                      folder: FolderRef) -> tuple[Collection, dict[str, ItemRef]]:
        """The folder's items by ServerId (needs read: Op.ITEM_READ)."""
        coll = await self.collection(principal, folder)
        refs = await self._ctx.dav.items.members(principal, coll)
        return coll, {server_id(folder, r.name): r for r in refs}

    async def find(self, principal: Principal, folder: FolderRef,
                   item_id: str) -> tuple[Collection, Item | None]:
        """One item by ServerId: straight by its name when the id says it, else through the
        listing (a hashed id); None when missing."""
        prefix, _, short = item_id.partition(":")
        if prefix != folder.server_id or not short:
            return await self.collection(principal, folder), None
        if not short.startswith("h-"):
            coll = await self.collection(principal, folder)
            name = short + extension_of(folder.kind)
            return coll, (await self.get_many(principal, coll, [name])).get(name)
        coll, refs = await self.listing(principal, folder)
        ref = refs.get(item_id)
        if ref is None:
            return coll, None
        return coll, (await self.get_many(principal, coll, [ref.name])).get(ref.name)

    async def get_many(self, principal: Principal, coll: Collection,
                       names: list[str]) -> dict[str, Item | None]:
        return await self._ctx.dav.items.get_many(principal, coll, names)

    async def create(self, principal: Principal, folder: FolderRef, coll: Collection,
                     data: bytes) -> tuple[str, ItemRef]:
        """A phone's new item under a fresh DAV name (Op.ITEM_CREATE): (ServerId, ref)."""
        family = _FAMILY[folder.kind]
        name = f"{uuid.uuid4()}{_EXTENSIONS[family]}"
        result = await self._ctx.dav.items.put(principal, coll, name, data,
                                               CONTENT_TYPES[family], if_none_match=True)
        return server_id(folder, name), result.ref

    async def replace(self, principal: Principal, folder: FolderRef, coll: Collection,
                      current: ItemRef, data: bytes) -> ItemRef:
        """A phone's edit (Op.ITEM_EDIT: insert-new plus delete-old), only if the item is
        still the version read (If-Match): a change meanwhile is PreconditionFailed."""
        family = _FAMILY[folder.kind]
        result = await self._ctx.dav.items.put(principal, coll, current.name, data,
                                               CONTENT_TYPES[family], if_match=current.etag)
        return result.ref

    async def delete(self, principal: Principal, coll: Collection, current: ItemRef) -> None:
        """Op.ITEM_DELETE; a change meanwhile is PreconditionFailed."""
        await self._ctx.dav.items.delete(principal, coll, current.name, if_match=current.etag)

    async def find_uid(self, principal: Principal, uid: str,
                       ) -> tuple[Collection, Item] | None:
        """The principal's own calendar object with this UID (MeetingResponse), in any of
        their calendars; None when there is none."""
        me = (principal.address or "").lower()
        for coll in await self._ctx.dav.collections.home(principal, "calendars"):
            if coll.handle is None or coll.kind != "calendar" or \
                    (coll.owner or "").lower() != me:
                continue
            for ref in await self._ctx.dav.items.members(principal, coll):
                if ref.uid == uid:
                    return coll, await self._ctx.dav.items.get(principal, coll, ref.name)
        return None

    async def get(self, principal: Principal, coll: Collection, name: str) -> Item:
        return await self._ctx.dav.items.get(principal, coll, name)

    async def invitation(self, principal: Principal, uid: str,
                         data: bytes) -> tuple[Collection, Item] | None:
        """The user's copy of the invitation ``uid`` (MeetingResponse on an iMIP mail): the
        one in their calendars, else ``data`` filed now (``file_invitation``).

        Scheduling files the invitation of a delivered iMIP mail itself
        (services/dav/scheduling.py ``delivered``), but only after the mail is committed
        (services/delivery.py ``announce``), and the commit is what wakes the phone's Ping:
        a phone may answer before the copy is there. Both then file the same object under
        the same name (``item_name``), If-None-Match: whichever writes second is refused
        and this one reads the other's copy instead; never two copies, never a failure.
        None when the user has no calendar."""
        for _ in range(ANSWER_TRIES):
            found = await self.find_uid(principal, uid)
            if found is not None:
                return found
            try:
                return await self.file_invitation(principal, uid, data)
            except (PreconditionFailed, UidConflict):
                continue  # scheduling filed it meanwhile: read that copy
        return await self.find_uid(principal, uid)

    async def file_invitation(self, principal: Principal, uid: str,
                              data: bytes) -> tuple[Collection, Item] | None:
        """An invitation the user answers that is in no calendar yet (an iMIP mail that
        scheduling did not file, or not yet): stored in their default calendar
        (Op.ITEM_CREATE) under the name scheduling gives it, If-None-Match. None when the
        user has no calendar; PreconditionFailed or UidConflict when a copy appeared."""
        me = (principal.address or "").lower()
        own = [c for c in await self._ctx.dav.collections.home(principal, "calendars")
               if c.handle is not None and c.kind == "calendar"
               and (c.owner or "").lower() == me]
        if not own:
            return None
        named = [c for c in own if c.name == self._ctx.dav.config.calendar_name]
        coll = (named or own)[0]
        result = await self._ctx.dav.items.put(principal, coll, item_name(uid), data,
                                               CONTENT_TYPES["calendars"], if_none_match=True)
        return coll, Item(result.ref, data)

    async def answer(self, principal: Principal, coll: Collection, item: Item,
                     change: Callable[[bytes], bytes | None], *,
                     remove: bool) -> ItemRef | None:
        """The user's answer to a meeting: their copy rewritten by ``change`` (run in a
        thread: it parses), which makes implicit scheduling (services/dav/scheduling.py)
        send the REPLY; ``remove`` then deletes the copy (a decline; scheduling sends
        nothing more for a declined copy). Written If-Match: when the copy changed
        meanwhile (scheduling filing an update of the invitation), read again and
        ``change`` applied to what is there now, ``ANSWER_TRIES`` times at most. None when
        ``change`` gives None (the user is no attendee)."""
        for attempt in range(ANSWER_TRIES):
            data = await asyncio.to_thread(change, item.data)
            if data is None:
                return None
            try:
                result = await self._ctx.dav.items.put(principal, coll, item.ref.name, data,
                                                       CONTENT_TYPES["calendars"],
                                                       if_match=item.ref.etag)
                if remove:
                    await self._ctx.dav.items.delete(principal, coll, item.ref.name,
                                                     if_match=result.ref.etag)
                return result.ref
            except PreconditionFailed:
                if attempt + 1 == ANSWER_TRIES:
                    raise
                item = await self.get(principal, coll, item.ref.name)
        raise AssertionError("unreachable")
