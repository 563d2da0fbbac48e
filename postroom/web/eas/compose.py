"""SendMail, SmartReply, SmartForward (MS-ASCMD §2.2.1.17, §2.2.1.19, §2.2.1.18).

14.0 and later: a ComposeMail document — ClientId, SaveInSentItems, ReplaceMime, Source
(FolderId + ItemId, or LongId) and the message in Mime (OPAQUE or text). 12.x: the raw
message/rfc822 body, with SaveInSent=T, CollectionId and ItemId in the query
(MS-ASHTTP §2.2.1.1.1.2). services/eas/compose.py sends it through the submission service.

Success is an empty 200 (MS-ASCMD §2.2.1.17.2); a refusal is the command's root with a
common Status (MS-ASCMD §2.2.2): 107 invalid MIME, 113 over quota, 118 already sent (same
ClientId), 119 no recipient, 120 submission refused (sender rules, policy), 122 too large,
150 the original is not there. 12.x learns of a refusal by HTTP 500 (MS-ASHTTP §3.2.5.1:
its only failure signal for these commands), with the reason in the body.
"""

from __future__ import annotations

from starlette.responses import Response

from postroom.core.errors import Kind, MailError
from postroom.protocols.eas.element import Element
from postroom.services.eas.compose import AlreadySent
from postroom.web.eas import email as email_class
from postroom.web.eas.common import CommandContext, Common, status_element

NS = "ComposeMail"
_STATUS = {Kind.INVALID: Common.INVALID_MIME, Kind.LIMIT: Common.ATTACHMENT_IS_TOO_LARGE,
           Kind.OVER_QUOTA: Common.MAILBOX_QUOTA_EXCEEDED,
           Kind.NOT_FOUND: Common.ITEM_NOT_FOUND}


async def handle(ctx: CommandContext, body: Element | None) -> Element | Response | None:
    mode = {"SmartReply": "reply", "SmartForward": "forward"}.get(ctx.command, "")
    params = ctx.line.params
    if body is not None:
        if body.name != ctx.command:
            return status_element(ctx.command, Common.INVALID_CONTENT)
        mime_el = body.find("Mime") or body.find("MIME")
        if mime_el is None:
            return status_element(ctx.command, Common.INVALID_MIME)
        mime = mime_el.data if mime_el.data is not None else \
            (mime_el.text or "").encode("utf-8")
        client_id = body.value("ClientId") or ""
        save = body.has("SaveInSentItems")
        replace = body.has("ReplaceMime")
        source = body.find("Source")
        folder_id = source.value("FolderId") if source is not None else None
        item_id = source.value("ItemId") if source is not None else None
        long_id = source.value("LongId") if source is not None else None
    elif ctx.raw and not ctx.at_least("14.0"):
        mime, client_id, replace = ctx.raw, "", False
        save = params.get("SaveInSent", "F").upper() == "T"
        folder_id, item_id, long_id = params.get("CollectionId"), params.get("ItemId"), \
            params.get("LongId")
    else:
        return status_element(ctx.command, Common.INVALID_CONTENT)
    original = None
    if mode:
        ref_id = folder_id or (long_id or "").partition(":")[0]
        sid = item_id or long_id or ""
        folder = await ctx.eas.folders.resolve(ctx.principal, ref_id) if ref_id else None
        uid = email_class.uid_of(folder, sid) if folder is not None else None
        if folder is None or uid is None:
            return _refused(ctx, Common.ITEM_NOT_FOUND, "the original message is not there")
        original = (folder, uid)
    peer = ctx.request.client.host if ctx.request.client else ""
    try:
        await ctx.eas.compose.send(ctx.principal, ctx.device.device_id, mime,
                                   client_id=client_id, save_in_sent=save, peer=peer,
                                   original=original, mode=mode, replace_mime=replace)
    except AlreadySent:
        return _refused(ctx, Common.MESSAGE_PREVIOUSLY_SENT, "this message was sent already")
    except MailError as exc:
        status = _STATUS.get(exc.kind, Common.MAIL_SUBMISSION_FAILED)
        if exc.kind is Kind.LIMIT and "recipients" in exc.text:
            status = Common.MAIL_SUBMISSION_FAILED
        if exc.kind is Kind.INVALID and "recipient" in exc.text:
            status = Common.MESSAGE_HAS_NO_RECIPIENT
        return _refused(ctx, status, exc.text)
    return None


def _refused(ctx: CommandContext, status: int, text: str) -> Element | Response:
    if ctx.at_least("14.0"):
        return status_element(ctx.command, status)
    return Response(text + "\n", status_code=500, media_type="text/plain")
