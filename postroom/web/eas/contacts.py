"""The Contacts item class (MS-ASCNTC): vCards as DAV items, mapped by web/eas/pim/cards.py;
the Sync logic is web/eas/pim/items.py's."""

from __future__ import annotations

from postroom.protocols.eas.element import Element
from postroom.web.eas.classes import SyncOptions
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


# the six ItemClass operations (web/eas/classes.py), written once in pim/items.py
ITEM_CLASS = items.PimClass(MAPPER)
