"""Writing mail in webmail. (Built by the writing part of issue 23.)"""

from __future__ import annotations

from postroom.services.webmail.context import WebmailContext
from postroom.services.webmail.folders import FolderTree
from postroom.services.webmail.prefs import Preferences


class Composer:
    def __init__(self, ctx: WebmailContext, prefs: Preferences, folders: FolderTree) -> None:
        self._ctx = ctx
        self._prefs = prefs
        self._folders = folders

    async def close(self) -> None:
        """Stop background work (the cleaner of stale uploads)."""
