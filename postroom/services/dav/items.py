"""Items in a collection: read, write, delete, query, sync (RFC 4918 §9, RFC 4791 §5.3.2 and
§7, RFC 6352 §6.3.2 and §8, RFC 6578)."""

from __future__ import annotations

from postroom.core.principal import Principal
from postroom.pim.filters import CardFilter, CompFilter, TimeRange
from postroom.pim.model import BusyPeriod
from postroom.services.dav.collections import Collections
from postroom.services.dav.context import DavContext
from postroom.services.dav.model import (
    Collection,
    Item,
    ItemListener,
    ItemRef,
    PutResult,
    SyncChanges,
)


class Items:
    def __init__(self, ctx: DavContext, collections: Collections) -> None:
        self._ctx = ctx
        self._collections = collections
        # told after every committed put and delete (scheduling: RFC 6638 implicit scheduling)
        self.listeners: list[ItemListener] = []

    async def members(self, principal: Principal, coll: Collection) -> list[ItemRef]:
        raise NotImplementedError

    async def get(self, principal: Principal, coll: Collection, name: str) -> Item:
        raise NotImplementedError

    async def get_many(self, principal: Principal, coll: Collection,
                       names: list[str]) -> dict[str, Item | None]:
        raise NotImplementedError

    async def put(self, principal: Principal, coll: Collection, name: str, data: bytes,
                  content_type: str, *, if_match: str | None = None,
                  if_none_match: bool = False) -> PutResult:
        """Create or replace (create: Op.ITEM_CREATE; replace: Op.ITEM_EDIT). ``if_match``:
        the ETag the client holds (412 on mismatch); ``if_none_match``: only create."""
        raise NotImplementedError

    async def delete(self, principal: Principal, coll: Collection, name: str, *,
                     if_match: str | None = None) -> None:
        raise NotImplementedError

    async def query_calendar(self, principal: Principal, coll: Collection,
                             comp_filter: CompFilter) -> list[Item]:
        raise NotImplementedError

    async def query_cards(self, principal: Principal, coll: Collection,
                          card_filter: CardFilter, limit: int | None = None) -> list[Item]:
        raise NotImplementedError

    async def sync(self, principal: Principal, coll: Collection, token: str | None,
                   limit: int | None = None) -> SyncChanges:
        """RFC 6578 §3.2: all members for no token; else changes and removals since it;
        MailError INVALID with text "valid-sync-token" for a token not of this collection."""
        raise NotImplementedError

    async def freebusy(self, principal: Principal, coll: Collection,
                       span: TimeRange) -> list[BusyPeriod]:
        raise NotImplementedError
