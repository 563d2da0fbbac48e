"""Ping (MS-ASCMD §2.2.1.13, §3.1.5.8): hold the request until one of the watched folders
changes (Status 2 with their ids) or the heartbeat expires (Status 1).

The request names Folders{Folder{Id, Class}} and a HeartbeatInterval; either may be left out,
or the whole body, and the device's last valid ones are used (kept per device by
services/eas/push.py; none kept → Status 3). Statuses (§2.2.3.177.10): 3 parameters missing,
4 malformed, 5 heartbeat out of ``[web.eas] min_heartbeat..max_heartbeat`` (with the bound in
HeartbeatInterval), 6 more than ``max_ping_folders`` (with MaxFolders), 7 a folder that is
missing or no longer offered (lost ``l`` or ``r``: the device must FolderSync; the same answer
for both), also when a watched folder is deleted, renamed or re-shared during the wait.
A user holding ``max_pings_per_user`` waits already gets HTTP 503 with Retry-After
(MS-ASHTTP §3.2.5.1), so that devices of one user do not evict each other in a loop.

A Ping is a long poll (every phone holds one all day), so what it keeps during the wait is the
server's memory per device (issue 25, docs/eas/bench.md). ``begin`` checks the request and
starts the wait, and returns a ``PingWait``: app.py awaits it only after the command's frames
have returned, so the request's body, its decoded tree, the request object and the command
context are freed while the device waits; the ``PingWait`` holds the device's cached
parameters and the push service's small ``Waiting`` alone.
"""

from __future__ import annotations

import enum

from starlette.responses import Response

from postroom.protocols.eas.element import E, Element
from postroom.services.eas.push import PingParams, Push, TooManyWaits, Waiting
from postroom.web.eas.common import CommandContext
from postroom.web.eas.longpoll import LongPoll

NS = "Ping"
MAX_ID = 64  # MS-ASCMD §2.2.3.84.1 Id: at most 64 characters
RETRY_AFTER = 60


class PingStatus(enum.IntEnum):
    EXPIRED = 1
    CHANGES = 2
    MISSING_PARAMETERS = 3
    SYNTAX = 4
    BAD_HEARTBEAT = 5
    TOO_MANY_FOLDERS = 6
    FOLDER_SYNC_NEEDED = 7
    SERVER_ERROR = 8


def _answer(status: PingStatus, *extra: Element) -> Element:
    return E(NS, "Ping", E(NS, "Status", text=int(status)), *extra)


class PingWait(LongPoll):
    """The rest of a Ping once its wait has begun: wait, note the MODSEQs seen, answer."""

    __slots__ = ("params", "push", "waiting")

    def __init__(self, push: Push, params: PingParams, waiting: Waiting) -> None:
        super().__init__()
        self.push, self.params, self.waiting = push, params, waiting

    async def run(self) -> Element:
        result = await self.push.finish(self.waiting)
        seen = self.params.seen
        for mid, modseq in result.modseqs.items():
            seen[mid] = max(seen.get(mid, 0), modseq)
        if result.hierarchy:
            return _answer(PingStatus.FOLDER_SYNC_NEEDED)
        if result.changed:
            return _changed(list(result.changed))
        return _answer(PingStatus.EXPIRED)

    def close(self) -> None:
        self.waiting.close()


async def handle(ctx: CommandContext, body: Element | None) -> Element | Response:
    """The whole Ping: ``begin``, then the wait (for callers that hold no frames of their
    own worth freeing; app.py calls ``begin`` and awaits the wait itself)."""
    answer = await begin(ctx, body)
    if not isinstance(answer, PingWait):
        return answer
    try:
        return await answer.run()
    finally:
        answer.close()


async def begin(ctx: CommandContext, body: Element | None) -> Element | Response | PingWait:
    """Check the request and start its wait: an answer at once (a status, changes already
    there, 503), or the ``PingWait`` to await."""
    cfg = ctx.eas.config
    push = ctx.eas.push
    cached = push.params(ctx.principal, ctx.device)
    heartbeat = cached.heartbeat if cached is not None else None
    folders = cached.folders if cached is not None else None
    if body is not None:
        if body.ns != NS or body.name != "Ping":
            return _answer(PingStatus.SYNTAX)
        text = body.value("HeartbeatInterval")
        if text is not None:
            if not text.isascii() or not text.isdigit() or len(text) > 6:
                return _answer(PingStatus.SYNTAX)
            asked = int(text)
            if asked < cfg.min_heartbeat or asked > cfg.max_heartbeat:
                bound = cfg.min_heartbeat if asked < cfg.min_heartbeat else cfg.max_heartbeat
                return _answer(PingStatus.BAD_HEARTBEAT, E(NS, "HeartbeatInterval", text=bound))
            heartbeat = asked
        listed = body.find("Folders")
        if listed is not None:
            elements = listed.findall("Folder")
            if len(elements) > cfg.max_ping_folders:
                return _answer(PingStatus.TOO_MANY_FOLDERS,
                               E(NS, "MaxFolders", text=cfg.max_ping_folders))
            asked_folders: dict[str, str] = {}
            for element in elements:
                server_id = element.value("Id") or ""
                if not server_id or len(server_id) > MAX_ID:
                    return _answer(PingStatus.SYNTAX)
                asked_folders[server_id] = element.value("Class") or ""
            folders = tuple(asked_folders.items())
    if heartbeat is None or not folders:
        return _answer(PingStatus.MISSING_PARAMETERS)
    ids = [int(sid) for sid, _ in folders if sid.isascii() and sid.isdigit() and len(sid) < 19]
    if len(ids) != len(folders):
        return _answer(PingStatus.FOLDER_SYNC_NEEDED)
    # the folders FolderSync offers, no others (services/eas/folders.py): one listing
    wanted = set(ids)
    handles = {e.item.mailbox.id: e.item.handle
               for e in await ctx.eas.folders.listed(ctx.principal)
               if e.item.mailbox.id in wanted}
    if len(handles) != len(wanted):
        return _answer(PingStatus.FOLDER_SYNC_NEEDED)
    params = push.remember(ctx.principal, ctx.device, heartbeat, folders)
    # A folder this process has no mark for (the device's last Sync went to another node of
    # a cluster, or came before a restart): what the device has is its durable sync state's
    # MODSEQ, so a change made since then still answers at once instead of being missed.
    for mid in ids:
        if mid not in params.seen:
            state = await ctx.eas.states.current(ctx.device, str(mid))
            modseq = state.data.get("modseq") if state is not None else None
            if isinstance(modseq, int) and modseq > 0:
                params.seen[mid] = modseq
    # changes since the device's last Ping ended (it was syncing meanwhile): answer now
    early = [mid for mid in ids if mid in params.seen
             and handles[mid].mailbox.highestmodseq > params.seen[mid]]
    for mid, handle in handles.items():
        params.seen[mid] = max(params.seen.get(mid, 0), handle.mailbox.highestmodseq)
    if early:
        return _changed(early)
    try:
        waiting = push.begin(ctx.principal, ctx.device, list(handles.values()), heartbeat)
    except TooManyWaits as exc:
        return Response(str(exc) + "\n", status_code=503, media_type="text/plain",
                        headers={"Retry-After": str(RETRY_AFTER)})
    return PingWait(push, params, waiting)


def _changed(mailbox_ids: list[int]) -> Element:
    """Status 2 with the ServerIds (mailbox ids, services/eas/folders.py) that changed."""
    return _answer(PingStatus.CHANGES, E(NS, "Folders", *[
        E(NS, "Folder", text=str(mid)) for mid in dict.fromkeys(mailbox_ids)]))
