"""The Calendar item class (MS-ASCAL): events as DAV items, mapped by web/eas/pim/events.py;
the Sync logic is web/eas/pim/items.py's."""

from __future__ import annotations

from typing import Any

from postroom.protocols.eas.element import Element
from postroom.services.eas.model import FolderRef
from postroom.web.eas.classes import SyncOptions
from postroom.web.eas.common import CommandContext
from postroom.web.eas.pim import dates, events, items


def _render(data: bytes, ctx: CommandContext, options: SyncOptions | None) -> Element:
    return events.to_app(data, ctx.principal.address or "", options, ctx.version)


def _merge(data: bytes | None, app: Element, ctx: CommandContext) -> bytes:
    return events.merge(data, app, ctx.principal.address or "")


MAPPER = items.Mapper(_render, _merge)


# the six ItemClass operations (web/eas/classes.py), written once in pim/items.py
ITEM_CLASS = items.PimClass(MAPPER)


async def delete_instance(ctx: CommandContext, folder: FolderRef, server_id: str,
                          instance_id: str, state: dict[str, Any]) -> int:
    """A 16.x Sync Delete of one occurrence (AirSyncBase:InstanceId, MS-ASCMD §2.2.3.88.1):
    an EXDATE, written as a Change of the series (Op.ITEM_EDIT). Statuses as ``change``;
    6 for an InstanceId that is no date or an event that is no series."""
    when = dates.parse(instance_id)
    if when is None:
        return items.CONVERSION

    def without(data: bytes | None, app: Element, ctx: CommandContext) -> bytes:
        assert data is not None
        return events.exclude(data, when)
    return await items.change(items.Mapper(_render, without), ctx, folder, server_id,
                              Element("AirSync", "ApplicationData"), state)
