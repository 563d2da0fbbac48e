"""MeetingResponse (MS-ASCMD §2.2.1.11): the user accepts, tentatively accepts or declines a
meeting request from the phone.

The request names either a meeting request mail in a mail folder (RequestId = the mail's
ServerId, CollectionId its folder) or, from 16.0, the event in a calendar (RequestId = its
ServerId). Either way the answer is the user's PARTSTAT in their own copy of the event (the
copy implicit scheduling filed, or one filed now from the invitation), written through
services/eas/pim.py over the DAV items service, so that implicit scheduling (RFC 6638
§3.2.2) sends the REPLY: straight to a local organiser, by iMIP to a remote one. A decline
then removes the copy, as Exchange does (no CalendarId is answered for it).

Result Status (MS-ASCMD §2.2.3.177.9): 1 success, 2 invalid meeting request (missing or
unreadable request, no invitation in the mail, the user not an attendee), 3 an error in
the mailbox (a write refused).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
from email.message import Message

from postroom.core.errors import Kind, MailError
from postroom.pim.model import InvalidItem
from postroom.protocols.eas.element import E, Element
from postroom.services.dav.model import Collection, Item, PreconditionFailed, UidConflict
from postroom.services.eas.model import FolderRef
from postroom.services.eas.pim import extension_of, short_id
from postroom.web.eas.common import CommandContext
from postroom.web.eas.email import parse_uid
from postroom.web.eas.pim import events

NS = "MeetingResponse"
log = logging.getLogger("postroom.eas")
SUCCESS, INVALID, MAILBOX_ERROR = 1, 2, 3
PARTSTATS = {"1": "ACCEPTED", "2": "TENTATIVE", "3": "DECLINED"}
# at most this many Requests in one MeetingResponse (each is a few DAV writes)
MAX_REQUESTS = 50


async def handle(ctx: CommandContext, body: Element | None) -> Element:
    root = E(NS, "MeetingResponse")
    requests = body.findall("Request") if body is not None and body.ns == NS \
        and body.name == "MeetingResponse" else []
    if not requests or len(requests) > MAX_REQUESTS:
        root.add(NS, "Status", INVALID)
        return root
    for request in requests:
        result = root.add(NS, "Result")
        request_id = request.value("RequestId") or ""
        if request_id:
            result.add(NS, "RequestId", request_id)
        try:
            status, calendar_id = await _respond(ctx, request)
        except (MailError, InvalidItem, UidConflict, PreconditionFailed, ValueError) as exc:
            log.info("eas: MeetingResponse refused for %s: %s", ctx.principal.address, exc)
            status, calendar_id = MAILBOX_ERROR, None
        result.add(NS, "Status", status)
        if calendar_id is not None:
            result.add(NS, "CalendarId", calendar_id)
    return root


async def _respond(ctx: CommandContext, request: Element) -> tuple[int, str | None]:
    partstat = PARTSTATS.get(request.value("UserResponse") or "")
    folder_id = request.value("CollectionId") or ""
    request_id = request.value("RequestId") or ""
    me = (ctx.principal.address or "").lower()
    if partstat is None or not request_id or not me:
        return INVALID, None
    if not folder_id and ":" in request_id:
        folder_id = request_id.split(":", 1)[0]
    folder = await ctx.eas.folders.resolve(ctx.principal, folder_id)
    if folder is None:
        return INVALID, None
    pim = ctx.eas.pim
    found: tuple[Collection, Item] | None = None
    if folder.item_class == "Calendar":
        coll, got = await pim.find(ctx.principal, folder, request_id)
        if got is None:
            return INVALID, None
        found = coll, got
    elif folder.item_class == "Email":
        mail = await _mail(ctx, folder, request_id)
        invitation = await asyncio.to_thread(_invitation, mail) if mail else None
        if invitation is None:
            return INVALID, None
        uid, stored = invitation
        # scheduling may be filing the same invitation right now (the mail's delivery
        # hook): the service settles who files it (services/eas/pim.py ``invitation``)
        found = await pim.invitation(ctx.principal, uid, stored)
    if found is None:
        return INVALID, None
    coll, item = found
    declined = partstat == "DECLINED"
    written = await pim.answer(ctx.principal, coll, item,
                               lambda data: events.answer(data, me, partstat), remove=declined)
    if written is None:
        return INVALID, None  # not an attendee
    if declined or coll.handle is None:
        return SUCCESS, None
    return SUCCESS, f"{coll.handle.id}:{short_id(item.ref.name, extension_of(coll.kind))}"


async def _mail(ctx: CommandContext, folder: FolderRef, request_id: str) -> bytes | None:
    """The meeting request mail's bytes (RequestId ``<mailbox id>:<uid>``, as Sync names
    mail), read through the mail item service with the read right; None when missing."""
    prefix, _, text = request_id.partition(":")
    uid = parse_uid(text)
    if prefix != folder.server_id or uid is None:
        return None
    handle = await ctx.eas.mail.open(ctx.principal, folder)
    try:
        return await ctx.eas.mail.content(handle, uid)
    except MailError as exc:
        if exc.kind is Kind.NOT_FOUND:
            return None
        raise


def _invitation(mail: bytes) -> tuple[str, bytes] | None:
    """The text/calendar part of an iMIP mail (RFC 6047 §2.4) as (UID, storable object)."""
    msg = email.message_from_bytes(mail, policy=email.policy.compat32)
    for part in msg.walk():
        if part.get_content_type() != "text/calendar":
            continue
        payload = _payload(part)
        if payload:
            try:
                return events.invitation_object(payload)
            except ValueError:
                return None
    return None


def _payload(part: Message) -> bytes | None:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else None
