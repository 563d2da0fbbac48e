"""The WebDAV file area ("Documents", folder kind ``documents``): a path under a user's area
is a folder path (collections) and a file name (an item), with the same rights as mail."""

from __future__ import annotations

from postroom.services.dav.context import DavContext


class Files:
    def __init__(self, ctx: DavContext) -> None:
        self._ctx = ctx
