"""MoveItems (MS-ASCMD §2.2.1.12) and ItemOperations Fetch (§2.2.1.10).

MoveItems moves mail between folders the device knows, through the gate (``MOVE_FROM`` on
the source, ``APPEND`` on the target); the device's states are updated in the same step, so
the moved message is neither deleted again from the source nor added again to the target at
the next Sync. Statuses: 1 invalid source, 2 invalid destination, 3 success, 4 same folder,
5 cannot be moved (calendar and contact items: not offered), 7 locked.

ItemOperations Fetch answers one item's ApplicationData (by CollectionId and ServerId, with
the Options' BodyPreference) or one attachment's bytes (by FileReference, base64 in Data, as
MS-ASCMD §2.2.3.39.2 says for a response that is not multipart). EmptyFolderContents and
Move are not offered (Status 2 "protocol error" for the operation, documented).
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.responses import Response

from postroom.core.errors import MailError
from postroom.protocols.eas.element import E, Element
from postroom.services.eas.mail import flag_bits
from postroom.services.eas.model import SyncState
from postroom.web.eas import email as email_class
from postroom.web.eas.common import CommandContext
from postroom.web.eas.sync import parse_options

MOVE = "Move"
IO = "ItemOperations"


async def handle(ctx: CommandContext, body: Element | None) -> Element | Response:
    if ctx.command == "MoveItems":
        return await move_items(ctx, body)
    if ctx.command == "ItemOperations":
        return await item_operations(ctx, body)
    if ctx.command == "GetAttachment":
        return await get_attachment(ctx)
    return E(IO, "ItemOperations", E(IO, "Status", text=2))


async def move_items(ctx: CommandContext, body: Element | None) -> Element:
    answer = E(MOVE, "MoveItems")
    if body is None or body.name != "MoveItems":
        answer.append(E(MOVE, "Response", E(MOVE, "Status", text=5)))
        return answer
    moves = body.findall("Move")
    if len(moves) > ctx.eas.config.max_operations:
        answer.append(E(MOVE, "Response", E(MOVE, "Status", text=5)))
        return answer
    refs = await ctx.eas.folders.resolve_many(ctx.principal, [
        i for m in moves for i in (m.value("SrcFldId") or "", m.value("DstFldId") or "")])
    for move in moves:
        src_id, dst_id = move.value("SrcFldId") or "", move.value("DstFldId") or ""
        msg_id = move.value("SrcMsgId") or ""
        response = answer.add(MOVE, "Response")
        response.add(MOVE, "SrcMsgId", msg_id)
        src, dst = refs.get(src_id), refs.get(dst_id)
        status, new_id = 3, ""
        if src is None:
            status = 1
        elif dst is None:
            status = 2
        elif src_id == dst_id:
            status = 4
        elif src.item_class != "Email" or dst.item_class != "Email":
            status = 5
        else:
            uid = email_class.uid_of(src, msg_id)
            if uid is None:
                status = 1
            else:
                status, new_id = await _move(ctx, src, dst, uid)
        response.add(MOVE, "Status", status)
        if new_id:
            response.add(MOVE, "DstMsgId", new_id)
    return answer


async def _move(ctx: CommandContext, src: Any, dst: Any, uid: int) -> tuple[int, str]:
    mail = ctx.eas.mail
    try:
        handle = await mail.open(ctx.principal, src)
        rows = {r.uid: r for r in await mail.view(ctx.principal, handle)}
        if uid not in rows:
            return 1, ""
        pairs = await mail.move(ctx.principal, handle, [uid], dst)
    except MailError:
        return 5, ""  # the gate refused the source or the target (hidden ones look missing)
    if not pairs:
        return 5, ""
    new_uid = pairs[0][1]
    bits = flag_bits(rows[uid].flags)
    await _note(ctx, src.server_id, lambda have: have.pop(str(uid), None))
    await _note(ctx, dst.server_id, lambda have: have.__setitem__(str(new_uid), bits))
    return 3, email_class.server_id(dst, new_uid)


async def _note(ctx: CommandContext, collection: str, change: Any) -> None:
    """Apply a move to the device's current state of a collection (same key: the device
    learns of the move from this answer, not from its next Sync)."""
    states = ctx.eas.states
    current = await states.current(ctx.device, collection)
    if current is None or "have" not in current.data:
        return
    change(current.data["have"])
    await states.save(ctx.device, collection, SyncState(current.key, current.data))


async def item_operations(ctx: CommandContext, body: Element | None) -> Element:
    answer = E(IO, "ItemOperations")
    if body is None or body.name != "ItemOperations":
        answer.add(IO, "Status", 2)
        return answer
    if len(body.children) > ctx.eas.config.max_operations:
        answer.add(IO, "Status", 2)  # protocol error: more operations than allowed
        return answer
    answer.add(IO, "Status", 1)
    response = answer.add(IO, "Response")
    # one answer carries at most limits.max_message_size octets of attachments: a request
    # naming one large attachment many times must not build a response of gigabytes
    budget = [ctx.eas.max_message_size]
    for op in body.children:
        if op.name == "Fetch":
            response.append(await _fetch(ctx, op, budget))
        else:
            response.append(E(IO, op.name, E(IO, "Status", text=2)))
    return answer


async def _fetch(ctx: CommandContext, op: Element, budget: list[int]) -> Element:
    out = E(IO, "Fetch")
    reference = op.value("FileReference")
    if reference is not None:
        return await _attachment(ctx, out, reference, budget)
    cid = op.value("CollectionId") or ""
    sid = op.value("ServerId") or ""
    ref = await ctx.eas.folders.resolve(ctx.principal, cid) if cid else None
    if ref is None or ref.item_class != "Email":
        from postroom.web.eas.classes import class_for
        item_class = class_for(ref.item_class) if ref is not None else None
        if ref is None or item_class is None:
            out.add(IO, "Status", 6)  # MS-ASCMD §2.2.3.177.8: object not found
            return out
        found = await item_class.fetch(ctx, ref, sid, parse_options(op.find("Options")))
    else:
        found = await email_class.fetch(ctx, ref, sid, parse_options(op.find("Options")))
    if not isinstance(found, Element):
        out.add(IO, "Status", 6)
        return out
    out.add(IO, "Status", 1)
    out.add("AirSync", "CollectionId", cid)
    out.add("AirSync", "ServerId", sid)
    out.add("AirSync", "Class", ref.item_class)
    out.append(E(IO, "Properties", *found.children))
    return out


async def get_attachment(ctx: CommandContext) -> Response:
    """GetAttachment (12.x, MS-ASCMD §2.2.1.7): the AttachmentName query parameter is the
    FileReference the Email class gave; the answer is the attachment's bytes as they are, with
    its content type. The spec's failure is an HTTP error: 404 for a reference that names
    nothing this user may read (missing and hidden alike), never a 500."""
    found = await _attachment_bytes(ctx, ctx.line.params.get("AttachmentName", ""))
    if found is None:
        return Response(status_code=404)
    content_type, data = found
    return Response(data, media_type=content_type)


async def _attachment_bytes(ctx: CommandContext, reference: str) -> tuple[str, bytes] | None:
    """(content type, decoded bytes) of the attachment "<mailbox>:<uid>:<index>", or None
    when the reference is malformed, the folder is not visible or the part is missing."""
    parts = reference.split(":")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() and len(p) <= 12 for p in parts):
        return None
    box, uid, index = (int(p) for p in parts)
    ref = await ctx.eas.folders.resolve(ctx.principal, str(box))
    if ref is None or ref.item_class != "Email":
        return None
    mail = ctx.eas.mail
    try:
        handle = await mail.open(ctx.principal, ref)
        return await mail.attachment(handle, uid, index)  # parsed in the service's threads
    except MailError:
        return None


async def _attachment(ctx: CommandContext, out: Element, reference: str,
                      budget: list[int]) -> Element:
    found = await _attachment_bytes(ctx, reference)
    if found is None:
        out.add(IO, "Status", 15)  # attachment or attachment id is invalid
        return out
    content_type, data = found
    if len(data) > budget[0]:
        out.add(IO, "Status", 11)  # MS-ASCMD §2.2.3.177.8: the data is too large
        return out
    budget[0] -= len(data)
    out.add(IO, "Status", 1)
    out.add("AirSyncBase", "FileReference", reference)
    props = out.add(IO, "Properties")
    props.add("AirSyncBase", "ContentType", content_type)
    props.add(IO, "Data", base64.b64encode(data).decode("ascii"))
    return out
