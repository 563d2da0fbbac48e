"""Helpers of the calendar, contacts, tasks and MeetingResponse tests: a real server, its
accounts, and the item classes called as the Sync command calls them (web/eas/classes.py;
the HTTP and WBXML layers are part 1's, Sync is part 4's)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from typing import Any, TypeVar, cast

from postroom.protocols.eas.element import E, Element
from postroom.protocols.eas.request import CommandLine
from postroom.services.eas.model import Device, FolderRef
from postroom.web.eas.classes import ChangeBatch, SyncOptions
from postroom.web.eas.common import CommandContext
from tests.support.dav import Dav
from tests.support.eas import eas_of, principal
from tests.support.server import RunningServer

T = TypeVar("T")
_names = itertools.count(1)


def user(dav: Dav, name: str) -> str:
    return dav.account(f"{name}{next(_names)}@example.test")




def context(srv: RunningServer, address: str, version: str = "14.1",
            command: str = "Sync") -> CommandContext:
    who = principal(srv, address)
    return CommandContext(
        request=cast(Any, None), line=CommandLine(command, address, "phone1", "iPhone"),
        version=version, principal=who,
        device=Device(0, who.account_id or 0, address, "phone1", "iPhone"),
        eas=eas_of(srv), services=cast(Any, None), settings=cast(Any, None), raw=b"")


def run(srv: RunningServer, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
    return asyncio.run_coroutine_threadsafe(coro, srv.loop).result(timeout)


def folder(srv: RunningServer, address: str, name: str) -> FolderRef:
    refs = srv.call(eas_of(srv).folders.hierarchy(principal(srv, address)))
    return next(r for r in refs if r.name == name)


def app(*children: Element) -> Element:
    return E("AirSync", "ApplicationData", *children)


def sync_all(srv: RunningServer, module: Any, ctx: CommandContext, where: FolderRef,
             state: dict[str, Any], options: SyncOptions | None = None,
             window: int = 100) -> ChangeBatch:
    """The server's changes since ``state``; ``state`` is replaced by the one after them."""
    item_class = getattr(module, "ITEM_CLASS", module)  # a PIM class module holds it
    batch = cast(ChangeBatch, run(srv, item_class.changes(ctx, where, state,
                                                          options or SyncOptions(), window)))
    state.clear()
    state.update(batch.state)
    return batch


def kinds(batch: ChangeBatch) -> list[tuple[str, str]]:
    return [(c.kind, c.server_id) for c in batch.changes]
