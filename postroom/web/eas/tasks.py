"""The Tasks item class (MS-ASTASK): VTODOs as DAV items, mapped by web/eas/pim/todos.py;
the Sync logic is web/eas/pim/items.py's."""

from __future__ import annotations

from postroom.protocols.eas.element import Element
from postroom.web.eas.classes import SyncOptions
from postroom.web.eas.common import CommandContext
from postroom.web.eas.pim import items, todos


def _render(data: bytes, ctx: CommandContext, options: SyncOptions | None) -> Element:
    return todos.to_app(data, options)


def _merge(data: bytes | None, app: Element, ctx: CommandContext) -> bytes:
    return todos.merge(data, app)


MAPPER = items.Mapper(_render, _merge, todos.completed)


# the six ItemClass operations (web/eas/classes.py), written once in pim/items.py
ITEM_CLASS = items.PimClass(MAPPER)
