"""The Email item class (MS-ASEMAIL, MS-ASAIRS): a stored message as AirSync
ApplicationData, and a device's changes to it (read, flag, delete).

ServerIds are ``<mailbox id>:<uid>``. The state of a collection (classes.py) is
``{"v": UIDVALIDITY, "have": {uid: bits}}`` — every message the device holds with what it
knows of its flags (1 read, 2 flagged) — so a change is a difference of two maps: a UID gone
is a Delete, a UID new is an Add (newest first, as phones show them), a UID whose bits moved
is a Change. A message that falls out of the FilterType window is a SoftDelete (MS-ASCMD
§2.2.3.162). A changed UIDVALIDITY empties the device's copy (deletes) and starts over.

Bodies follow the device's BodyPreference: Type 1 (plain text), 2 (HTML) or 4 (the whole
MIME, when MIMESupport allows it), each bounded by its TruncationSize with Truncated and
EstimatedDataSize; attachments are listed with a FileReference ItemOperations can fetch.
What is shown is the mail service's decision (services/eas/mailview.py, worked out in its
threads, a window in a few batches); this module writes it as elements.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from postroom.protocols.eas.element import E, Element
from postroom.services.eas.mail import flag_bits
from postroom.services.eas.mailview import BodyWanted, MailView
from postroom.services.eas.model import FolderRef
from postroom.web.eas.classes import ChangeBatch, ServerChange, SyncOptions
from postroom.web.eas.common import CommandContext

NS = "Email"
BASE = "AirSyncBase"
# FilterType → days back (MS-ASCMD §2.2.3.70.2); 0 = everything
FILTER_DAYS = {1: 1, 2: 3, 3: 7, 4: 14, 5: 31, 6: 92, 7: 183}


def server_id(folder: FolderRef, uid: int) -> str:
    return f"{folder.mailbox_id}:{uid}"


def uid_of(folder: FolderRef, sid: str) -> int | None:
    box, _, uid = sid.partition(":")
    if box != str(folder.mailbox_id):
        return None
    return parse_uid(uid)


def parse_uid(text: str) -> int | None:
    """An IMAP UID written in ASCII digits (RFC 9051 §2.3.1.1: 1 to 2^32-1); None for
    anything else — other scripts' digits, signs, or numbers the store cannot hold."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value < 1 << 32 else None


async def _window(ctx: CommandContext, folder: FolderRef, options: SyncOptions,
                  ) -> tuple[Any, dict[int, int], set[int], int]:
    """(handle, {uid: bits} of the messages in the filter window, UIDs outside it, the
    highest MODSEQ among the folder's messages)."""
    mail = ctx.eas.mail
    handle = await mail.open(ctx.principal, folder)
    rows = await mail.view(ctx.principal, handle)
    current = {r.uid: flag_bits(r.flags) for r in rows}
    outside: set[int] = set()
    days = FILTER_DAYS.get(options.filter_type)
    if days and current:
        cutoff = time.time() - days * 86400
        for rec in await mail.records(ctx.principal, handle, list(current)):
            if rec.internal_date < cutoff:
                outside.add(rec.uid)
        for uid in outside:
            current.pop(uid, None)
    return handle, current, outside, max((r.modseq for r in rows), default=0)


async def changes(ctx: CommandContext, folder: FolderRef, state: dict[str, Any],
                  options: SyncOptions, window: int) -> ChangeBatch:
    handle, current, outside, modseq = await _window(ctx, folder, options)
    have: dict[str, int] = dict(state.get("have", {}))
    validity = handle.mailbox.uidvalidity
    out: list[ServerChange] = []
    if state.get("v") not in (None, validity):
        out += [ServerChange("Delete", server_id(folder, int(u))) for u in have]
        have = {}
    for key in sorted(have, key=int):
        if len(out) >= window:
            break
        uid = int(key)
        if uid not in current:
            out.append(ServerChange("SoftDelete" if uid in outside else "Delete",
                                    server_id(folder, uid)))
            del have[key]
        elif current[uid] != have[key]:
            out.append(ServerChange("Change", server_id(folder, uid),
                                    _flags_data(current[uid])))
            have[key] = current[uid]
    fresh = sorted((u for u in current if str(u) not in have), reverse=True)
    room = max(0, window - len(out))
    views = await ctx.eas.mail.views(ctx.principal, handle,
                                     [(uid, current[uid]) for uid in fresh[:room]],
                                     body_wanted(options))
    for uid in fresh[:room]:
        found = views.get(uid)
        if found is None:
            continue  # expunged meanwhile: the next Sync does not see it either
        out.append(ServerChange("Add", server_id(folder, uid), render(found, folder)))
        have[str(uid)] = current[uid]
    more = len(fresh) > room or any(
        (int(k) not in current) or current[int(k)] != v for k, v in have.items())
    return ChangeBatch(out, more, {"v": validity, "have": have,
                                   "modseq": 0 if more else modseq})


async def estimate(ctx: CommandContext, folder: FolderRef, state: dict[str, Any],
                   options: SyncOptions) -> int:
    handle, current, _, _ = await _window(ctx, folder, options)
    have: dict[str, int] = state.get("have", {})
    if state.get("v") not in (None, handle.mailbox.uidvalidity):
        return len(have) + len(current)
    gone = sum(1 for k in have if int(k) not in current)
    moved = sum(1 for k, v in have.items() if int(k) in current and current[int(k)] != v)
    return gone + moved + sum(1 for u in current if str(u) not in have)


async def add(ctx: CommandContext, folder: FolderRef, data: Element,
              state: dict[str, Any]) -> tuple[int, str | None]:
    """Mail is not created by Sync (drafts by 16.1 clients are not offered): Status 6."""
    return 6, None


async def change(ctx: CommandContext, folder: FolderRef, sid: str, data: Element,
                 state: dict[str, Any]) -> int:
    uid = uid_of(folder, sid)
    if uid is None:
        return 8
    mail = ctx.eas.mail
    handle = await _handle(ctx, folder)
    if await _bits(ctx, handle, uid) is None:
        return 8
    read = data.value("Read")
    flag = data.find("Flag", NS)
    flagged: bool | None = None
    if flag is not None:
        # MS-ASEMAIL §2.2.2.74: an empty Flag clears it; Status 2 flagged, 1 complete
        flagged = flag.value("Status") == "2"
    ok = await mail.set_flags(ctx.principal, handle, uid,
                              read=None if read is None else read == "1", flagged=flagged)
    if not ok:
        # refused (a read-only shared folder): the server's version goes back to the device
        # at its next Sync, as a Change (MS-ASCMD §3.1.5.3 server wins)
        state.setdefault("have", {})[str(uid)] = -1
        return 6
    bits = await _bits(ctx, handle, uid)
    if bits is not None:
        state.setdefault("have", {})[str(uid)] = bits
    return 1


async def delete(ctx: CommandContext, folder: FolderRef, sid: str, state: dict[str, Any],
                 *, to_trash: bool) -> int:
    uid = uid_of(folder, sid)
    if uid is None:
        return 8
    mail = ctx.eas.mail
    handle = await _handle(ctx, folder)
    if await _bits(ctx, handle, uid) is None:
        state.get("have", {}).pop(str(uid), None)
        return 1  # already gone: what the device wanted
    if "trash" not in ctx.cache:  # once per request, not once per deleted message
        ctx.cache["trash"] = await mail.trash(ctx.principal)
    if not await mail.delete(ctx.principal, handle, uid,
                             trash=ctx.cache["trash"] if to_trash else None):
        return 6
    state.get("have", {}).pop(str(uid), None)
    return 1


async def fetch(ctx: CommandContext, folder: FolderRef, sid: str,
                options: SyncOptions) -> Element | int:
    uid = uid_of(folder, sid)
    if uid is None:
        return 8
    handle = await _handle(ctx, folder)
    bits = await _bits(ctx, handle, uid)
    if bits is None:
        return 8
    views = await ctx.eas.mail.views(ctx.principal, handle, [(uid, bits)],
                                     body_wanted(options), whole=True)
    return render(views[uid], folder) if uid in views else 8


async def fetch_many(ctx: CommandContext, folder: FolderRef, uids: list[int],
                     options: SyncOptions) -> dict[int, Element]:
    """Whole ApplicationData of several messages of one folder (Search's results), by UID,
    rendered in batches as a Sync window is; UIDs no longer there are left out."""
    handle = await _handle(ctx, folder)
    recs = await ctx.eas.mail.records(ctx.principal, handle, uids)
    views = await ctx.eas.mail.views(ctx.principal, handle,
                                     [(r.uid, flag_bits(r.flags)) for r in recs],
                                     body_wanted(options), whole=True)
    return {uid: render(found, folder) for uid, found in views.items()}


async def _handle(ctx: CommandContext, folder: FolderRef) -> Any:
    """The folder's gate handle, opened once per request: a Sync carrying hundreds of
    changes to one folder opens it once (the rights are those of the request's start)."""
    key = f"handle:{folder.mailbox_id}"
    if key not in ctx.cache:
        ctx.cache[key] = await ctx.eas.mail.open(ctx.principal, folder)
    return ctx.cache[key]


async def _bits(ctx: CommandContext, handle: Any, uid: int) -> int | None:
    """One message's read/flagged bits as the device sees them; None when it is not there
    (one row read, not the folder's whole flag list per device change)."""
    recs = await ctx.eas.mail.records(ctx.principal, handle, [uid])
    return flag_bits(recs[0].flags) if recs and recs[0].uid == uid else None


def _flags_data(bits: int) -> Element:
    app = E("AirSync", "ApplicationData")
    app.add(NS, "Read", 1 if bits & 1 else 0)
    app.append(_flag(bits))
    return app


def _flag(bits: int) -> Element:
    flag = E(NS, "Flag")
    if bits & 2:
        flag.add(NS, "Status", 2)
        flag.add(NS, "FlagType", "Follow up")
    return flag


def body_wanted(options: SyncOptions) -> BodyWanted:
    """The device's body options as the mail service takes them."""
    return BodyWanted(tuple((p.type, p.truncation_size) for p in options.body_preferences or ()),
                      options.mime_support, options.truncation)


def render(mail: MailView, folder: FolderRef) -> Element:
    """One message's ApplicationData (MS-ASEMAIL §2.2.2) from what the mail service decided
    the device is shown (services/eas/mailview.py), in the order of MS-ASEMAIL's schema."""
    app = E("AirSync", "ApplicationData")
    if mail.to:
        app.add(NS, "To", mail.to)
    if mail.cc:
        app.add(NS, "Cc", mail.cc)
    if mail.sender:
        app.add(NS, "From", mail.sender)
    app.add(NS, "Subject", mail.subject)
    if mail.reply_to:
        app.add(NS, "ReplyTo", mail.reply_to)
    app.add(NS, "DateReceived", datetime.fromtimestamp(mail.internal_date, UTC)
            .strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    app.add(NS, "DisplayTo", mail.display_to)
    app.add(NS, "ThreadTopic", mail.subject)
    app.add(NS, "Importance", mail.importance)
    app.add(NS, "Read", 1 if mail.bits & 1 else 0)
    body = mail.body
    out = app.add(BASE, "Body")
    out.add(BASE, "Type", body.type)
    out.add(BASE, "EstimatedDataSize", body.estimated_size)
    if body.truncated:
        out.add(BASE, "Truncated", 1)
    out.add(BASE, "Data", body.data)
    if mail.attachments:
        attachments = app.add(BASE, "Attachments")
        for part in mail.attachments:
            att = attachments.add(BASE, "Attachment")
            att.add(BASE, "DisplayName", part.name)
            att.add(BASE, "FileReference", f"{folder.mailbox_id}:{mail.uid}:{part.index}")
            att.add(BASE, "Method", 1)
            att.add(BASE, "EstimatedDataSize", part.size)
            if part.content_id is not None:
                att.add(BASE, "ContentId", part.content_id)
                att.add(BASE, "IsInline", 1 if part.inline else 0)
    app.add(NS, "MessageClass", "IPM.Note")
    app.add(NS, "InternetCPID", 65001)
    app.append(_flag(mail.bits))
    app.add(NS, "ContentClass", "urn:content-classes:message")
    app.add(BASE, "NativeBodyType", mail.native_body_type)
    return app
