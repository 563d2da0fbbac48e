"""Import and export of whole calendars and address books (.ics, .vcf) for the CLI, the API
and webmail, streaming, with progress."""

from __future__ import annotations

from postroom.services.dav.collections import Collections
from postroom.services.dav.context import DavContext
from postroom.services.dav.items import Items


class Transfer:
    def __init__(self, ctx: DavContext, collections: Collections, items: Items) -> None:
        self._ctx = ctx
        self._collections = collections
        self._items = items
