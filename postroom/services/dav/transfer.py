"""Import and export of whole calendars and address books (.ics, .vcf) for the CLI, the API
and webmail, streaming, with progress.

Import: pim.bundle splits the stream into one object per UID (one vCard per card), and each
goes through ``Items.put``, so the gate (Op.ITEM_CREATE / ITEM_EDIT on the folder), the
validation and the limits of CalDAV/CardDAV apply to every item exactly as to a client's PUT.
An object whose UID the folder already holds replaces it under its existing name, so an
import can be run again (after a failure, or to refresh) without making duplicates.

Bad items: an item that fails validation is skipped and reported with its number (its
position in the file, from 1) and the reason; the rest is imported. Why not all or nothing:
exports from other servers routinely carry a few objects our validation refuses (an event
without DTSTART, a card without FN), and losing 4,999 good events over one would make the
import useless; the report says exactly what was left out. What stops an import at once:
a stream that is not iCalendar/vCard at all (nothing is imported from it, when that is
clear at its start), the folder refusing writes (rights: checked before anything is read),
the quota, and ``web.dav.max_import_size`` (the stream is counted as it is read).

Memory is bounded by one item (pim.bundle), not by the file: the file is read in chunks,
and objects are split and stored one at a time. Export streams too: the folder's items are
read one by one from the store and joined (pim.bundle) into one VCALENDAR or a run of vCards.

Imports never send invitations (``scheduling.QUIET`` is set while they run): restoring or
moving a calendar must not re-invite, or cancel, everybody in it.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field

from postroom.access.ops import Op
from postroom.core.errors import Kind, MailError, invalid
from postroom.core.principal import Principal
from postroom.pim import bundle
from postroom.pim.model import InvalidItem
from postroom.services.dav.collections import Collections
from postroom.services.dav.context import DavContext
from postroom.services.dav.items import Items
from postroom.services.dav.model import Collection, UidConflict
from postroom.services.dav.scheduling import QUIET

# (items done, octets read so far): called after every item
Progress = Callable[[int, int], None]

FAMILY_OF = {"calendar": "calendars", "contacts": "addressbooks"}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+=~-]{0,190}$")
_UID_LINE = re.compile(rb"^UID[;:](?:[^:\r\n]*:)?(.*)$", re.MULTILINE | re.IGNORECASE)
_OUT_CHUNK = 64 * 1024  # export: octets gathered per hand-over to the event loop
_IN_BATCH = 32  # import: objects split per hand-over to a worker thread
# Items stored at once by one import: their files are written and synced side by side
# (each put is still its own transaction, so a crash loses at most the unfinished ones)
IMPORT_CONCURRENCY = 8


@dataclass
class ImportReport:
    """What an import did. ``skipped``: (item number from 1, reason) of each item left out;
    ``stopped``: why the import ended early ("" when it read the whole file)."""

    imported: int = 0  # new items
    replaced: int = 0  # items whose UID the folder held already
    skipped: list[tuple[int, str]] = field(default_factory=list)
    octets: int = 0
    stopped: str = ""

    @property
    def total(self) -> int:
        return self.imported + self.replaced + len(self.skipped)


def item_name(uid: str, suffix: str) -> str:
    """The resource name an imported item gets: its UID when that is a safe path segment
    (what clients do), else a hash of it."""
    if _SAFE_NAME.match(uid):
        return uid if uid.endswith(suffix) else uid + suffix
    return hashlib.sha256(uid.encode()).hexdigest()[:40] + suffix


def _uid(obj: bytes) -> str:
    """The UID of one split object (pim.bundle gives every object one): the first UID line
    after unfolding (RFC 5545 §3.1)."""
    found = _UID_LINE.search(obj.replace(b"\r\n ", b"").replace(b"\r\n\t", b""))
    return found.group(1).strip().decode("utf-8", "replace") if found else ""


class _Counted:
    """The chunks of a stream, counted; MailError LIMIT past ``most`` octets."""

    def __init__(self, chunks: Iterable[bytes], most: int) -> None:
        self._chunks = iter(chunks)
        self._most = most
        self.octets = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.octets += len(chunk)
            if self.octets > self._most:
                raise MailError(Kind.LIMIT, f"the file is larger than the {self._most} octets "
                                "an import may be (web.dav.max_import_size)")
            yield chunk


def _take(objects: Iterator[bytes], n: int) -> tuple[list[bytes], InvalidItem | MailError | None]:
    """Up to ``n`` objects (run in a worker thread: splitting parses), and the error that
    ended the stream, if one did, so that the caller still stores what came before it."""
    out: list[bytes] = []
    try:
        for _ in range(n):
            nxt = next(objects, None)
            if nxt is None:
                break
            out.append(nxt)
    except (InvalidItem, MailError) as exc:
        return out, exc
    return out, None


class Transfer:
    def __init__(self, ctx: DavContext, collections: Collections, items: Items) -> None:
        self._ctx = ctx
        self._collections = collections
        self._items = items

    async def acting(self, caller: Principal, address: str) -> Principal:
        """An administrator working in an account's calendars and address books, as the
        operator's CLI does (every right in that account): only for accounts of a domain the
        caller administers; anyone else gets NOT_FOUND, the answer for a missing account."""
        account = await self._ctx.store.directory.get_account(address)
        if account is None or not caller.administers(account.domain_id):
            raise MailError(Kind.NOT_FOUND, f"no account {address}")
        return Principal.operator_as(account.id, account.address, account.domain_id)

    async def collection(self, principal: Principal, kind: str, folder: str, *,
                         create: bool = False) -> Collection:
        """The calendar (kind "calendar") or address book ("contacts") the principal names:
        by folder name, display name or URL segment; with ``create``, a new folder of that
        kind when there is none (in the principal's own namespace, under the gate)."""
        family = FAMILY_OF.get(kind)
        if family is None:
            raise invalid("import and export take calendars and address books")
        for coll in await self._collections.home(principal, family):
            if folder in (coll.name, coll.segment, coll.displayname) and \
                    (coll.kind == kind or (kind == "calendar" and coll.kind in
                                           ("tasks", "notes", "journal"))):
                return coll
        if not create:
            raise MailError(Kind.NOT_FOUND, f"no {kind} folder {folder}")
        await self._ctx.mailboxes.create(principal, folder, kind=kind)
        for coll in await self._collections.home(principal, family):
            if coll.name == folder:
                return coll
        raise MailError(Kind.NOT_FOUND, f"no {kind} folder {folder}")

    # -- import ------------------------------------------------------------------------------
    async def import_calendar(self, principal: Principal, coll: Collection,
                              chunks: Iterable[bytes], progress: Progress | None = None,
                              ) -> ImportReport:
        """A .ics stream into a calendar (RFC 5545 §3.4: one VCALENDAR or several)."""
        return await self._import(principal, coll, chunks, progress, "calendar")

    async def import_cards(self, principal: Principal, coll: Collection,
                           chunks: Iterable[bytes], progress: Progress | None = None,
                           ) -> ImportReport:
        """A .vcf stream (vCard 3.0 or 4.0, one card after the other) into an address book."""
        return await self._import(principal, coll, chunks, progress, "contacts")

    async def _import(self, principal: Principal, coll: Collection, chunks: Iterable[bytes],
                      progress: Progress | None, kind: str) -> ImportReport:
        quiet = QUIET.set(True)  # seen by the writes this import starts (their context)
        try:
            return await self._import_quietly(principal, coll, chunks, progress, kind)
        finally:
            QUIET.reset(quiet)

    async def _import_quietly(self, principal: Principal, coll: Collection,
                              chunks: Iterable[bytes], progress: Progress | None, kind: str,
                              ) -> ImportReport:
        if coll.handle is None:
            raise MailError(Kind.NO_PERM, "the directory is read-only")
        if (kind == "contacts") != (coll.kind == "contacts"):
            what = "an address book" if kind == "contacts" else "a calendar"
            raise invalid(f"{coll.name} is not {what}")
        # rights first: a user who may not add items learns it before the upload is read
        coll.handle.require(Op.ITEM_CREATE)
        counted = _Counted(chunks, self._ctx.config.max_import_size)
        limit = self._ctx.config.max_resource_size
        if kind == "calendar":
            objects = bundle.split_calendar(counted, max_item_size=limit)
            suffix, media = ".ics", "text/calendar; charset=utf-8"
        else:
            objects = bundle.split_cards(counted, max_item_size=limit)
            suffix, media = ".vcf", "text/vcard; charset=utf-8"
        report = ImportReport()
        number = done = 0
        running: dict[str, asyncio.Task[None]] = {}  # resource name -> its write

        def finished(task: asyncio.Task[None]) -> None:
            nonlocal done
            done += 1
            if progress is not None and not task.cancelled():
                progress(done, counted.octets)

        try:
            while True:
                batch, error = await asyncio.to_thread(_take, objects, _IN_BATCH)
                for obj in batch:
                    number += 1
                    uid = _uid(obj)
                    name = item_name(uid, suffix) if uid else f"import-{number}{suffix}"
                    earlier = running.get(name)
                    if earlier is not None:  # the same UID again: after the first, not beside
                        await earlier
                    while len(running) >= IMPORT_CONCURRENCY:
                        await asyncio.wait(list(running.values()),
                                           return_when=asyncio.FIRST_COMPLETED)
                        _reap(running)
                    task = asyncio.create_task(self._store_one(
                        principal, coll, obj, name, number, media, report))
                    task.add_done_callback(finished)
                    running[name] = task
                    report.octets = counted.octets
                if error is not None:
                    if number == 0:
                        raise _refusal(error)
                    report.stopped = f"after item {number}: {error.text}"
                    break
                if len(batch) < _IN_BATCH:
                    break
            if running:
                await asyncio.wait(list(running.values()))
                _reap(running)
        finally:
            for task in running.values():
                task.cancel()
        report.skipped.sort()
        report.octets = counted.octets
        return report

    async def _store_one(self, principal: Principal, coll: Collection, obj: bytes, name: str,
                         number: int, media: str, report: ImportReport) -> None:
        for _ in range(2):
            try:
                result = await self._items.put(principal, coll, name, obj, media)
            except UidConflict as exc:
                name = exc.name  # the folder holds this UID under another name: replace it
                continue
            except InvalidItem as exc:
                report.skipped.append((number, exc.text))
                return
            except MailError as exc:
                if exc.kind in (Kind.INVALID, Kind.LIMIT):
                    report.skipped.append((number, exc.text))
                    return
                raise  # rights, quota, the store: the import cannot go on
            if result.created:
                report.imported += 1
            else:
                report.replaced += 1
            return
        report.skipped.append((number, "its UID is held by another item"))

    # -- export ------------------------------------------------------------------------------
    async def export_calendar(self, principal: Principal, coll: Collection,
                              ) -> AsyncIterator[bytes]:
        """The calendar as one VCALENDAR (each VTIMEZONE once), in chunks."""
        async for chunk in self._export(principal, coll, bundle.join_calendar):
            yield chunk

    async def export_cards(self, principal: Principal, coll: Collection,
                           ) -> AsyncIterator[bytes]:
        """The address book as a .vcf (the cards one after the other), in chunks."""
        async for chunk in self._export(principal, coll, bundle.join_cards):
            yield chunk

    async def _export(self, principal: Principal, coll: Collection,
                      join: Callable[[Iterable[bytes]], Iterator[bytes]],
                      ) -> AsyncIterator[bytes]:
        if coll.handle is None:  # the directory: small, built in memory
            refs = await self._items.members(principal, coll)
            found = await self._items.get_many(principal, coll, [r.name for r in refs])
            for chunk in join(i.data for i in found.values() if i is not None):
                yield chunk
            return
        coll.handle.require(Op.ITEM_READ)
        rows = await self._ctx.store.dav.live(coll.handle.id)
        blobs = self._ctx.store.blobs
        produced = join(blobs.read(row.blob) for row in rows)

        def more() -> bytes:
            out: list[bytes] = []
            size = 0
            for chunk in produced:
                out.append(chunk)
                size += len(chunk)
                if size >= _OUT_CHUNK:
                    break
            return b"".join(out)

        while True:
            chunk = await asyncio.to_thread(more)
            if not chunk:
                return
            yield chunk


def _reap(running: dict[str, asyncio.Task[None]]) -> None:
    """Forget finished writes; the first failure (rights, quota, the store) ends the
    import, raised here."""
    for name, task in list(running.items()):
        if task.done():
            del running[name]
            failure = None if task.cancelled() else task.exception()
            if failure is not None:
                raise failure


def _refusal(exc: InvalidItem | MailError) -> MailError:
    """A stream refused before its first item: its reason as the service's error."""
    if isinstance(exc, MailError):
        return exc
    return invalid(f"not a calendar or address book file: {exc.text}")
