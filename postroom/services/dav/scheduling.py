"""Scheduling (RFC 6638): invitations to local attendees land in their calendar, replies
update the organiser's PARTSTAT; remote attendees get iMIP mail (RFC 6047) through the
submission service, and iMIP arriving by mail updates the local organiser or attendee.

Implicit scheduling (RFC 6638 §3.2): ``item_changed`` is told by Items after every committed
put and delete. What it does depends on who stored the object, in their own calendar:

- the ORGANIZER (RFC 6638 §3.2.1): a new object, or a change other than DTSTAMP and the
  attendees' answers, sends a REQUEST to every attendee; attendees dropped from the list and
  everyone on deletion get a CANCEL;
- an ATTENDEE (§3.2.2): a change of their PARTSTAT sends a REPLY to the organiser; deleting
  their copy of an event they had not declined sends a REPLY with DECLINED (§3.2.2.3).

Where a message goes: an address that is an active local account (the Directory decides) is
served directly: a REQUEST puts the event into the attendee's default calendar (the folder
named web.dav.calendar_name, else their first calendar) with PARTSTAT=NEEDS-ACTION, as Cyrus
and SOGo do, so that it "lands in the calendar"; a REPLY is applied to the organiser's copy; a
CANCEL marks the attendee's copy STATUS:CANCELLED. Any other address (remote, or a local
alias or group, whose members get it through delivery) gets iMIP mail from the user, through
SubmissionService with the user as the authenticated submitter, so the same sender rules as
for webmail apply. An unknown address of a local domain gets nothing (SCHEDULE-STATUS 3.7).

Scheduling runs inside the write that triggers it (Items awaits its listeners after the
commit), not in a background task: when a client has its 201/204, the invitations are filed
or their mail is queued (fsynced), so a restart right after the answer loses none of them. A
failure is logged and never undoes the client's write.

The scheduling inbox (RFC 6638 §2.2, §4): the server applies each message at once (the
"automatic processing" of §3.2, so the result is in the calendars whether or not a client
ever looks), and ALSO keeps a copy of every message it accepted for a local user (a REQUEST
or CANCEL to an attendee, a REPLY to an organiser; from local scheduling and from iMIP) as a
scheduling message resource in that user's inbox, METHOD and all, so that clients which read
the inbox (Apple Calendar, Thunderbird) see it and acknowledge it by DELETE. The inbox is a
folder of kind calendar owned by the user (so the gate shows it to the user and the
administrators only), created on the first delivery, marked with collections.INBOX_PROP and
therefore left out of every calendar home (DAV, webmail); IMAP LIST does show it. It keeps
at most web.dav.max_inbox_messages messages, the oldest dropped first. Messages are stored
here, not through Items.put: RFC 4791 §4.1 forbids METHOD in a calendar object resource, and
an inbox holds several messages of one UID (a REQUEST, then its CANCEL).

Why writing into other users' calendars does not bypass the gate: those writes are the
server's act (RFC 6638 §3.2), made as the system principal acting in the target's own account
(``Principal.operator_as``). The user never names the target folder: it is chosen here from
the attendee or organiser address written in the event, and only the target's own default
calendar (a new invitation, never over an existing resource) or the object with the same UID
in which the target is the ORGANIZER (a REPLY) or the ORGANIZER is the sender (a REQUEST's
update, a CANCEL) can be touched: RFC 5546 §2.1, the organiser owns the event. Anything else
with that UID (a private event, another organiser's meeting, the target's own organiser copy)
is left alone and the refusal logged. Writes made as the system
principal are never scheduled again, which also ends every loop; imports (CLI, API) set
``QUIET`` and send nothing either.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace

from postroom.access.ops import Op
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.core.records import AccountRec, QueueRec
from postroom.directory.service import ToAccount, Unknown
from postroom.pim import freebusy, itip
from postroom.pim.filters import TimeRange
from postroom.pim.ical import index_calendar, scheduling_info
from postroom.pim.model import BusyPeriod, InvalidItem, ItemIndex, SchedulingInfo
from postroom.services.dav import imip
from postroom.services.dav.collections import INBOX_PROP, Collections
from postroom.services.dav.context import DavContext
from postroom.services.dav.items import Items, etag_of
from postroom.services.dav.model import (
    Collection,
    Item,
    ItemRef,
    PreconditionFailed,
    UidConflict,
)
from postroom.services.dav.stored import item_prefix, prepare_item
from postroom.services.pipeline import Client
from postroom.services.submission import received_header
from postroom.store.repo.dav import ItemIndexRow

log = logging.getLogger("postroom.dav.scheduling")

# Set by imports (services/dav/transfer.py): restoring or moving a calendar stores the same
# events again and must not invite (or cancel) anybody; a task started inside sees it too
QUIET: ContextVar[bool] = ContextVar("postroom_dav_scheduling_quiet", default=False)
SCHEDULED_KINDS = frozenset({"calendar", "tasks"})  # VEVENT and VTODO (RFC 6638 §3.1)
ICS_TYPE = "text/calendar; charset=utf-8"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+=~-]{0,190}$")
# Most attendees one free-busy POST may ask about (each costs a calendar scan)
MAX_FREEBUSY_ATTENDEES = 100
# Largest delivered message looked into for iMIP, in multiples of web.dav.max_resource_size
# (text part, calendar part and headers of an invitation stay well inside that)
IMIP_MESSAGE_FACTOR = 4
_CALENDAR_TYPE = re.compile(rb"text/calendar", re.IGNORECASE)
# The folder that holds a user's scheduling inbox: found by INBOX_PROP, never by this name,
# which is only what IMAP shows (a user folder of that name gets a number added)
INBOX_FOLDER = "Scheduling Inbox"
_METHOD_LINE = re.compile(rb"^METHOD:[^\r\n]*\r?\n", re.MULTILINE | re.IGNORECASE)
_FIRST_COMPONENT = re.compile(rb"^BEGIN:(VEVENT|VTODO|VJOURNAL|VFREEBUSY)\s*$",
                              re.MULTILINE | re.IGNORECASE)
_TRIES = 3  # concurrent answers to the same event: read, change, write If-Match, again


def item_name(uid: str) -> str:
    """The resource name of a copy the server creates: the UID when it is a safe path
    segment (clients do the same), else its hash."""
    if _SAFE_NAME.match(uid):
        return uid + ".ics"
    return hashlib.sha256(uid.encode()).hexdigest()[:40] + ".ics"


def _info(item: Item | None) -> SchedulingInfo | None:
    return None if item is None else _info_of(item.data)


def _people(info: SchedulingInfo | None, me: str) -> set[str]:
    if info is None:
        return set()
    # only mail addresses can be scheduled (a urn:uuid: or http: calendar user address has no
    # inbox we could reach: RFC 6638 §2.4.1 leaves such addresses to the server's discretion)
    return {a.address for a in info.attendees if "@" in a.address and a.address != me
            and ":" not in a.address}


def _partstat(item: Item | None, me: str) -> str | None:
    if item is None:
        return None
    try:
        return imip.partstat_of(item.data, me)
    except InvalidItem:
        return None


@dataclass(frozen=True, slots=True)
class FreeBusyAnswer:
    """One recipient's part of a schedule-response (RFC 6638 §5.1): the request status and,
    on success, a VFREEBUSY reply."""

    recipient: str
    status: str
    data: bytes | None


class Scheduling:
    def __init__(self, ctx: DavContext, collections: Collections, items: Items) -> None:
        self._ctx = ctx
        self._collections = collections
        self._items = items
        # one creation of an account's inbox folder at a time (two deliveries at once)
        self._inbox_locks: dict[int, asyncio.Lock] = {}

    # -- implicit scheduling (RFC 6638 §3.2) -----------------------------------------------------
    async def item_changed(self, principal: Principal, coll: Collection, old: Item | None,
                           new: Item | None) -> None:
        """RFC 6638 §3.2: an organiser's change is sent to the attendees, an attendee's
        PARTSTAT change to the organiser."""
        me = (principal.address or "").lower()
        # a scheduling inbox's messages are no calendar objects: storing or deleting one (the
        # client's acknowledgement, RFC 6638 §4) schedules nothing
        if not self._ctx.config.scheduling or principal.system or not me or QUIET.get() \
                or coll.virtual or coll.handle is None or coll.kind not in SCHEDULED_KINDS \
                or (coll.owner or "").lower() != me:
            return
        old_info, new_info = await asyncio.to_thread(lambda: (_info(old), _info(new)))
        info = new_info or old_info
        if info is None or not info.organizer:
            return
        if info.organizer == me:
            await self._as_organizer(principal, old, new, old_info, new_info)
        elif me in {a.address for a in info.attendees}:
            await self._as_attendee(principal, old, new, info)

    async def _as_organizer(self, principal: Principal, old: Item | None, new: Item | None,
                            old_info: SchedulingInfo | None,
                            new_info: SchedulingInfo | None) -> None:
        me = (principal.address or "").lower()
        before, after = _people(old_info, me), _people(new_info, me)
        if new is None or new_info is None:
            if old is not None and before:
                await self._send(principal, "CANCEL",
                                 await asyncio.to_thread(itip.cancel, old.data),
                                 sorted(before), old_info.summary if old_info else "")
            return
        gone = sorted(before - after)
        if gone and old is not None:
            await self._send(principal, "CANCEL",
                             await asyncio.to_thread(itip.cancel, old.data, tuple(gone)),
                             gone, new_info.summary)
        if not after:
            return
        if old is not None and await asyncio.to_thread(_same, old.data, new.data):
            return  # only answers or stamps changed: nothing to tell (RFC 5546 §2.1.4)
        await self._send(principal, "REQUEST", await asyncio.to_thread(itip.request, new.data),
                         sorted(after), new_info.summary)

    async def _as_attendee(self, principal: Principal, old: Item | None, new: Item | None,
                           info: SchedulingInfo) -> None:
        me = (principal.address or "").lower()
        organizer = info.organizer or ""
        if new is None:
            # RFC 6638 §3.2.2.3: removing one's copy declines, unless it was cancelled or
            # already declined
            if old is None or _partstat(old, me) == "DECLINED" or b"STATUS:CANCELLED" in old.data:
                return
            await self._send(principal, "REPLY",
                             await asyncio.to_thread(itip.reply, old.data, me, "DECLINED"),
                             [organizer], info.summary)
            return
        now, was = await asyncio.to_thread(
            lambda: (_partstat(new, me),
                     _partstat(old, me) if old is not None else "NEEDS-ACTION"))
        if now is None or now == was or now == "NEEDS-ACTION" or now not in imip.PARTSTATS:
            return
        await self._send(principal, "REPLY", await asyncio.to_thread(itip.reply, new.data, me, now),
                         [organizer], info.summary)

    # -- where a message goes ----------------------------------------------------------------
    async def _send(self, principal: Principal, method: str, message: bytes,
                    recipients: Sequence[str], summary: str) -> None:
        """Local accounts directly, everyone else by iMIP mail from ``principal``."""
        sender = (principal.address or "").lower()
        remote: list[str] = []
        for rcpt in recipients:
            found = await self._ctx.directory.resolve_recipient(rcpt)
            if isinstance(found, ToAccount):
                if found.account.state != "active":
                    log.info("scheduling: %s is not active; %s not delivered", rcpt, method)
                    continue
                try:
                    await self.deliver_local(found.account, method, message, sender)
                except (MailError, InvalidItem) as exc:
                    log.info("scheduling: %s to %s not applied: %s", method, rcpt, exc)
            elif isinstance(found, Unknown) and found.local_domain:
                # RFC 6638 §3.2.9 SCHEDULE-STATUS 3.7: invalid calendar user
                log.info("scheduling: %s: no such local user; %s not sent", rcpt, method)
            else:
                remote.append(rcpt)
        if remote:
            await self._mail(principal, method, message, remote, summary)

    async def _mail(self, principal: Principal, method: str, message: bytes,
                    recipients: list[str], summary: str) -> None:
        """iMIP (RFC 6047): one message to the remote recipients, submitted as the user."""
        sender = principal.address or ""
        text = _explain(method, sender, summary)
        hostname = self._ctx.hostname
        data = imip.build_mail(sender, recipients, method, message, summary, hostname, text)
        client = Client("local", hostname, True, principal, False, "webmail")
        received = received_header("calendar", "127.0.0.1", hostname, "HTTPS",
                                   secrets.token_hex(6),
                                   recipients[0] if len(recipients) == 1 else None)
        try:
            await self._ctx.submission.submit(client, sender, recipients, data, received)
        except MailError as exc:
            log.warning("scheduling: iMIP %s to %s refused: %s", method,
                        ", ".join(recipients), exc.text)

    async def deliver_local(self, account: AccountRec, method: str, message: bytes,
                            sender: str, *, from_outside: bool = False) -> bool:
        """Apply one iTIP message to a local account's calendar, as the server (see the
        module's docstring). ``sender``: who sent it (the user, or a mail's From), checked
        against the role the message claims (RFC 6047 §3.1: only the organiser requests
        and cancels, only the attendee replies) and against the copy it would change (RFC
        6638 §3.2, RFC 5546 §2.1: the organiser owns the event, so only a scheduling object
        the sender organises is updated or cancelled, never another object with the same UID,
        and never the recipient's own organiser copy). ``from_outside``: it came by mail
        from a sender who is not one of our accounts (web.dav.remote_invitations decides
        whether such a REQUEST may file a new event). True when something was written."""
        # iTIP parsing is CPU work on objects up to max_resource_size: off the event loop,
        # as PUT parsing is
        info = await asyncio.to_thread(scheduling_info, message)
        if info is None or not info.uid:
            return False
        target = account.address.lower()
        acting = Principal.operator_as(account.id, account.address, account.domain_id)
        if method == "REQUEST":
            if info.organizer != sender or target not in {a.address for a in info.attendees}:
                return False
            found = await self._find(acting, info.uid)
            if found is None and from_outside and not self._remote_invitations():
                log.info("scheduling: invitation from %s for %s left in INBOX "
                         "(web.dav.remote_invitations is off)", sender, target)
                return False
            done = await self._land(acting, found, message, target, sender, info)
            await self._keep(acting, method, message)
            return done
        if method == "CANCEL":
            if info.organizer != sender:
                return False
            found = await self._find(acting, info.uid)
            done = found is not None and await self._rewrite(
                acting, *found, method, sender, lambda data: _cancelled(data, sender, target))
            if found is not None or target in {a.address for a in info.attendees}:
                await self._keep(acting, method, message)
            return done
        if method == "REPLY":
            if sender not in {a.address for a in info.attendees}:
                return False
            found = await self._find(acting, info.uid)
            if found is None:
                return False
            done = await self._rewrite(acting, *found, method, sender,
                                       lambda data: _replied(data, message, sender, target))
            await self._keep(acting, method, message)
            return done
        return False

    # -- the scheduling inbox (RFC 6638 §2.2, §4) ----------------------------------------------
    async def inbox(self, principal: Principal) -> Collection | None:
        """The principal's own scheduling inbox as a collection (segment "inbox", virtual
        "inbox"), None while nothing was ever delivered to them."""
        found = await self._collections.home(principal, "calendars", scheduling_inbox=True)
        return found[0] if found else None

    def max_inbox_messages(self) -> int:
        return max(1, self._ctx.config.max_inbox_messages)  # web.dav.max_inbox_messages

    async def _inbox_for(self, acting: Principal) -> Collection:
        """The account's inbox, its folder created on the first delivery (owned by the
        account; marked INBOX_PROP, the name being only a label IMAP shows)."""
        found = await self.inbox(acting)
        if found is not None:
            return found
        if acting.account_id is None:
            raise MailError(Kind.NO_PERM, "only accounts have a scheduling inbox")
        lock = self._inbox_locks.setdefault(acting.account_id, asyncio.Lock())
        async with lock:
            found = await self.inbox(acting)  # made while we waited
            if found is not None:
                return found
            taken = {mb.name for mb in await self._ctx.store.mailboxes.list_owned(
                acting.account_id)}
            name, n = INBOX_FOLDER, 2
            while name in taken:
                name, n = f"{INBOX_FOLDER} {n}", n + 1
            created = await self._ctx.mailboxes.create(acting, name, kind="calendar")
            await self._ctx.store.dav.set_props(created.id, {INBOX_PROP: "1"})
            found = await self.inbox(acting)
            if found is None:
                raise MailError(Kind.NOT_FOUND, "the scheduling inbox could not be made")
            return found

    async def _keep(self, acting: Principal, method: str, message: bytes) -> None:
        """``file_message``, its failure only logged: the copy in the inbox is for clients
        that read it; the calendar was already changed."""
        try:
            await self.file_message(acting, method, message)
        except (MailError, InvalidItem, OSError) as exc:
            log.warning("scheduling: %s for %s not kept in the scheduling inbox: %s", method,
                        acting.address, exc)

    async def file_message(self, acting: Principal, method: str, message: bytes) -> ItemRef:
        """Store one iTIP message as a scheduling message resource (RFC 6638 §4) in the
        account's inbox, as the server: METHOD kept (GET returns exactly the message), no
        UID index (several messages share one), the content type saying the method (RFC 6047
        §2.4 ``method`` parameter). Then the oldest beyond web.dav.max_inbox_messages go."""
        if len(message) > self._ctx.config.max_resource_size:
            raise MailError(Kind.LIMIT, "the message is larger than web.dav.max_resource_size")
        inbox = await self._inbox_for(acting)
        handle = inbox.handle
        assert handle is not None  # a folder, never virtual-only
        handle.require(Op.ITEM_CREATE)
        index = await asyncio.to_thread(_message_index, message, self._ctx.config.max_instances)
        now = time.time()
        # names sort by arrival: milliseconds, then a random part against collisions
        name = f"{int(now * 1000):013d}-{secrets.token_hex(6)}.ics"
        ctype = f"text/calendar; charset=utf-8; method={method}"
        stamp = int(now)
        prepared = await prepare_item(self._ctx.store, message,
                                      item_prefix(index, name, ctype, stamp), stamp,
                                      self._ctx.max_message_size)
        row = ItemIndexRow(name=name, etag=etag_of(prepared.blob.sha256), content_type=ctype,
                           component=index.component, ical_uid="", start=index.start,
                           end=index.end, recurring=index.recurring,
                           summary=index.summary[:500], search=index.text[:20000],
                           size=len(message), modified=stamp)
        _uid, modseq, _ = await self._ctx.store.dav.write_item(
            handle.id, prepared, row, expect_uid=None, create_only=True)
        await self._trim(handle.id)
        return ItemRef(name=name, etag=row.etag, size=row.size, content_type=ctype,
                       modseq=modseq, component=row.component, summary=row.summary,
                       start=row.start, end=row.end, recurring=row.recurring, modified=stamp)

    async def _trim(self, folder: int) -> None:
        """The bound of the inbox: the oldest messages (lowest MODSEQ) beyond
        web.dav.max_inbox_messages are expunged, so a flood of invitations costs at most
        that many; sync-collection reports them removed like any deletion."""
        rows = await self._ctx.store.dav.live(folder)
        extra = len(rows) - self.max_inbox_messages()
        if extra <= 0:
            return
        for row in sorted(rows, key=lambda r: (r.modseq, r.name))[:extra]:
            await self._ctx.store.dav.delete_item(folder, row.uid)

    def _remote_invitations(self) -> bool:
        # web.dav.remote_invitations (asked for in requests.md): read with a default until
        # the key exists in config_dav.py
        return bool(getattr(self._ctx.config, "remote_invitations", True))

    async def _land(self, acting: Principal, found: tuple[Collection, Item] | None,
                    message: bytes, attendee: str, sender: str, info: SchedulingInfo) -> bool:
        """A REQUEST into the attendee's calendar: a new copy with NEEDS-ACTION, or the
        update of their copy (only one the sender organises: ``_updated``) keeping their
        answer while the revision (SEQUENCE) is the same (RFC 5546 §2.1.4: a new revision
        asks again)."""
        if found is not None:
            return await self._rewrite(
                acting, *found, "REQUEST", sender,
                lambda data: _updated(data, message, attendee, sender, info.sequence))
        calendar = await self._default_calendar(acting)
        if calendar is None:
            log.info("scheduling: %s has no calendar; invitation not filed", attendee)
            return False
        data = await asyncio.to_thread(imip.attendee_copy, message, attendee, None)
        try:
            # If-None-Match: never over an existing resource of that name, whatever it is
            await self._items.put(acting, calendar, item_name(info.uid), data, ICS_TYPE,
                                  if_none_match=True)
        except PreconditionFailed:
            return False
        return True

    async def _rewrite(self, acting: Principal, coll: Collection, item: Item, method: str,
                       sender: str, change: Callable[[bytes], bytes]) -> bool:
        """Read-change-write with If-Match, again when the item changed meanwhile. ``change``
        runs in a worker thread (it parses) and is given the current data each time, so its
        ownership check (``Refused``) holds for exactly what is overwritten."""
        for _ in range(_TRIES):
            try:
                data = await asyncio.to_thread(change, item.data)
            except Refused as exc:
                # RFC 6638 §3.2.9 would answer 3.8 (no authority) on the sender's copy; that
                # status is not written back (see docs/dav/scheduling.md), only logged
                log.warning("scheduling: %s from %s for %s/%s refused: %s", method, sender,
                            acting.address, item.ref.name, exc)
                return False
            if data == item.data:
                return False
            try:
                await self._items.put(acting, coll, item.ref.name, data, ICS_TYPE,
                                      if_match=item.ref.etag)
                return True
            except PreconditionFailed:
                try:
                    item = await self._items.get(acting, coll, item.ref.name)
                except MailError as exc:
                    if exc.kind is Kind.NOT_FOUND:
                        return False
                    raise
        return False

    async def _own_calendars(self, acting: Principal) -> list[Collection]:
        me = (acting.address or "").lower()
        return [c for c in await self._collections.home(acting, "calendars")
                if c.handle is not None and c.kind in SCHEDULED_KINDS
                and (c.owner or "").lower() == me]

    async def _default_calendar(self, acting: Principal) -> Collection | None:
        """RFC 6638 §9.2 schedule-default-calendar-URL, in effect: the calendar named
        web.dav.calendar_name, else the first of kind calendar."""
        own = [c for c in await self._own_calendars(acting) if c.kind == "calendar"]
        named = [c for c in own if c.name == self._ctx.config.calendar_name]
        return (named or own)[0] if named or own else None

    async def _find(self, acting: Principal, uid: str) -> tuple[Collection, Item] | None:
        """The account's own copy of the object with this UID, in any of its calendars."""
        for coll in await self._own_calendars(acting):
            assert coll.handle is not None
            rows = await self._ctx.store.dav.by_ical_uid(coll.handle.id, uid)
            if rows:
                return coll, await self._items.get(acting, coll, rows[0].name)
        return None

    # -- free-busy (RFC 6638 §5) -------------------------------------------------------------
    async def freebusy(self, principal: Principal, request: imip.FreeBusyRequest,
                       ) -> list[FreeBusyAnswer]:
        """Busy time of each attendee of an outbox POST (RFC 6638 §5). Only the user may
        organise their own request (§5.1.1 organizer-allowed: MailError NO_PERM). Active
        accounts of the user's own domain (one company; other hosted domains are strangers)
        answer with their busy time (opaque,
        non-cancelled events of their own calendars: when, never what), read as the
        server: free-busy is what scheduling shares with colleagues (RFC 6638 §3.2.8); other
        addresses get 3.7 (unknown here) or 5.3 (not served: no remote free-busy)."""
        me = (principal.address or "").lower()
        if not me or request.organizer != me:
            raise MailError(Kind.NO_PERM, "the ORGANIZER must be you")
        if len(request.attendees) > MAX_FREEBUSY_ATTENDEES:
            raise MailError(Kind.LIMIT, f"at most {MAX_FREEBUSY_ATTENDEES} attendees")
        span = TimeRange(request.start, request.end)
        out: list[FreeBusyAnswer] = []
        for who in request.attendees:
            found = await self._ctx.directory.resolve_recipient(who)
            if not isinstance(found, ToAccount) or found.account.state != "active" \
                    or found.account.domain_id != principal.domain_id:
                status = "3.7;Invalid calendar user" if isinstance(found, Unknown) \
                    and found.local_domain else "5.3;No scheduling support for user"
                out.append(FreeBusyAnswer(who, status, None))
                continue
            acc = found.account
            acting = Principal.operator_as(acc.id, acc.address, acc.domain_id)
            periods: list[BusyPeriod] = []
            for coll in await self._own_calendars(acting):
                if coll.kind == "calendar":
                    periods += await self._items.freebusy(acting, coll, span)
            data = freebusy.vfreebusy(freebusy.merge(periods), span, organizer=me,
                                      attendee=who, uid=request.uid)
            out.append(FreeBusyAnswer(who, "2.0;Success", data))
        return out

    # -- iMIP coming in by mail (RFC 6047) -----------------------------------------------------
    async def delivered(self, entry: QueueRec, recipients: Sequence[str]) -> None:
        """Told by delivery after local copies of ``entry`` were committed: a text/calendar
        part with METHOD REQUEST, REPLY or CANCEL is applied to the recipients' calendars
        (the same rules as for local scheduling; the message's From is the sender whose
        role is checked). Anything else is left alone: the copy in INBOX is the mail."""
        # an invitation is small: a message far larger than the object it may carry is not
        # read at all (every delivery passes here, 50 MB attachments included)
        most = IMIP_MESSAGE_FACTOR * self._ctx.config.max_resource_size
        if not self._ctx.config.scheduling or entry.size > most:
            return
        try:
            data = await asyncio.to_thread(self._ctx.store.blobs.read, entry.blob)
        except OSError:
            return
        if _CALENDAR_TYPE.search(data) is None:
            return  # no text/calendar part anywhere: ordinary mail, not parsed
        auth = entry.param_dict().get("auth")
        await self.incoming(data, recipients, auth if isinstance(auth, str) else None)

    async def incoming(self, data: bytes, recipients: Sequence[str],
                       authenticated: str | None = None) -> int:
        """Apply the iTIP parts of a delivered mail message; the number of changes made.
        ``authenticated``: the address the message was submitted as, if it was (the queue
        entry's ``auth``). A From naming one of our own accounts counts only when that
        account submitted it: otherwise anyone outside could plant an invitation "from" a
        colleague (our users' own mail programs that answer by mail do authenticate)."""
        most = self._ctx.config.max_resource_size
        try:
            parts, sender = await asyncio.to_thread(_imip_parts, data, most)
        except (ValueError, LookupError):
            return 0
        if not parts or not sender:
            return 0
        ours = isinstance(await self._ctx.directory.resolve_recipient(sender), ToAccount)
        if ours and (authenticated or "").lower() != sender:
            log.info("iMIP from %s ignored: one of our addresses, not submitted by it", sender)
            return 0
        done = 0
        for part in parts:
            try:
                method = await asyncio.to_thread(imip.method_of, part)
            except InvalidItem:
                continue
            if method not in ("REQUEST", "REPLY", "CANCEL"):
                continue
            for rcpt in recipients:
                found = await self._ctx.directory.resolve_recipient(rcpt)
                if not isinstance(found, ToAccount) or found.account.state != "active":
                    continue
                try:
                    if await self.deliver_local(found.account, method, part, sender,
                                                from_outside=not ours):
                        done += 1
                except (MailError, InvalidItem, UidConflict, PreconditionFailed) as exc:
                    # a client writing the same UID at the same moment (UidConflict on
                    # create, PreconditionFailed on the last rewrite try) costs this
                    # recipient the server's copy, not the other recipients theirs
                    log.info("iMIP %s from %s for %s not applied: %s", method, sender, rcpt,
                             exc)
        return done


def _message_index(message: bytes, most: int) -> ItemIndex:
    """The index of a scheduling message (component, span, text: calendar-query and the
    webmail work on it as on any calendar object): indexed as the object it carries, METHOD
    left out for the check only (RFC 4791 §4.1 refuses it in stored objects); a message
    that is no valid object (a REPLY without DTSTART) keeps only its component."""
    try:
        index = index_calendar(_METHOD_LINE.sub(b"", message),
                               ("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"), most)
    except (InvalidItem, ValueError):
        found = _FIRST_COMPONENT.search(message)
        return ItemIndex(component=found.group(1).decode().upper() if found else "", uid="")
    return replace(index, uid="")


def _same(old: bytes, new: bytes) -> bool:
    """No change worth a new REQUEST between two versions (``imip.significant``)."""
    return imip.significant(old) == imip.significant(new)


class Refused(Exception):
    """An iTIP message that may not change the copy it names (RFC 6638 §3.2.9 3.8)."""


def _organised_by(current: bytes, sender: str, recipient: str) -> SchedulingInfo:
    """The recipient's copy's scheduling info when ``sender`` organises it (RFC 5546 §2.1:
    only the organiser changes an event); ``Refused`` for any other object with that UID (a
    private event, someone else's invitation) and for the recipient's own organiser copy."""
    mine = _info_of(current)
    if mine is None or not mine.organizer:
        raise Refused("the existing object with this UID is not a scheduling object")
    if mine.organizer == recipient:
        raise Refused("the recipient organises this event")
    if mine.organizer != sender:
        raise Refused(f"the existing copy is organised by {mine.organizer}, not the sender")
    return mine


def _updated(current: bytes, message: bytes, attendee: str, sender: str,
             sequence: int) -> bytes:
    """The attendee's copy after the organiser's REQUEST: their answer kept while the
    revision is the same; an older revision is refused (RFC 5546 §2.1.5)."""
    mine = _organised_by(current, sender, attendee)
    if sequence < mine.sequence:
        raise Refused(f"SEQUENCE {sequence} is older than the copy's {mine.sequence}")
    keep = imip.partstat_of(current, attendee) if sequence == mine.sequence else None
    return imip.attendee_copy(message, attendee, keep)


def _cancelled(current: bytes, sender: str, attendee: str) -> bytes:
    """The attendee's copy after the organiser's CANCEL (RFC 5546 §3.2.5)."""
    _organised_by(current, sender, attendee)
    return imip.mark_cancelled(current)


def _replied(current: bytes, message: bytes, sender: str, organizer: str) -> bytes:
    """The organiser's copy after ``sender``'s REPLY: only the recipient's own organiser
    copy takes replies, and every component of the reply must speak for the sender alone
    (``itip.apply_reply``)."""
    mine = _info_of(current)
    if mine is None or mine.organizer != organizer:
        raise Refused("only the organiser's own copy takes replies")
    return itip.apply_reply(current, message, attendee=sender)


def _info_of(data: bytes) -> SchedulingInfo | None:
    try:
        return scheduling_info(data)
    except InvalidItem:
        return None


def _imip_parts(data: bytes, most: int) -> tuple[list[bytes], str]:
    return imip.calendar_parts(data, most), imip.from_address(data)


def _explain(method: str, sender: str, summary: str) -> str:
    """The text part of an iMIP message, for mail programs that do not read calendars."""
    title = summary or "(no title)"
    if method == "REQUEST":
        return (f"{sender} invites you to: {title}\n\nThe invitation is attached as a "
                "calendar file; open it in your calendar program to answer.\n")
    if method == "CANCEL":
        return f"{sender} cancelled: {title}\n"
    return f"{sender} answered the invitation to: {title}\n"
