"""The Contacts item class (MS-ASCNTC): vCards as DAV items, mapped by web/eas/pim/cards.py;
the Sync logic is web/eas/pim/items.py's."""

from __future__ import annotations

from typing import Any

from postroom.protocols.eas.element import Element
from postroom.services.eas.model import FolderRef
from postroom.web.eas.classes import ChangeBatch, SyncOptions
from postroom.web.eas.common import CommandContext
from postroom.web.eas.pim import cards, items


def _picture_max(ctx: CommandContext) -> int:
    """web.eas.max_picture_size (MS-ASCNTC Picture bound), else the 48 KB default."""
    most = getattr(ctx.eas.config, "max_picture_size", None)
    return most if isinstance(most, int) else cards.PICTURE_MAX


def _render(data: bytes, ctx: CommandContext, options: SyncOptions | None) -> Element:
    return cards.to_app(data, options, _picture_max(ctx))


def _merge(data: bytes | None, app: Element, ctx: CommandContext) -> bytes:
    return cards.merge(data, app, _picture_max(ctx))


MAPPER = items.Mapper(_render, _merge)


async def changes(ctx: CommandContext, folder: FolderRef, state: dict[str, Any],
                  options: SyncOptions, window: int) -> ChangeBatch:
    return await items.changes(MAPPER, ctx, folder, state, options, window)


async def estimate(ctx: CommandContext, folder: FolderRef, state: dict[str, Any],
                   options: SyncOptions) -> int:
    return await items.estimate(MAPPER, ctx, folder, state, options)


async def add(ctx: CommandContext, folder: FolderRef, data: Element,
              state: dict[str, Any]) -> tuple[int, str | None]:
    return await items.add(MAPPER, ctx, folder, data, state)


async def change(ctx: CommandContext, folder: FolderRef, server_id: str, data: Element,
                 state: dict[str, Any]) -> int:
    return await items.change(MAPPER, ctx, folder, server_id, data, state)


async def delete(ctx: CommandContext, folder: FolderRef, server_id: str,
                 state: dict[str, Any], *, to_trash: bool) -> int:
    return await items.delete(MAPPER, ctx, folder, server_id, state, to_trash=to_trash)


async def fetch(ctx: CommandContext, folder: FolderRef, server_id: str,
                options: SyncOptions) -> Element | int:
    return await items.fetch(MAPPER, ctx, folder, server_id, options)
