"""WebDAV locks (RFC 4918 §6, §7, §9.10, §9.11, §10.4 If header) for the file area."""

from __future__ import annotations

from postroom.services.dav.context import DavContext


class Locks:
    def __init__(self, ctx: DavContext) -> None:
        self._ctx = ctx
