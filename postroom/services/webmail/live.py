"""Live updates for webmail: the change feed, through the gate, as events for one user.
(Built by the live part of issue 23.)"""

from __future__ import annotations

from postroom.services.webmail.context import WebmailContext
from postroom.services.webmail.folders import FolderTree


class LiveUpdates:
    def __init__(self, ctx: WebmailContext, folders: FolderTree) -> None:
        self._ctx = ctx
        self._folders = folders

    async def close(self) -> None:
        """End every open stream (server shutdown)."""
