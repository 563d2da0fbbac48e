"""A folder's message list for webmail: sorted pages, threads, search, and the actions on the
selected messages. (Built by the list part of issue 23; this is its contract.)"""

from __future__ import annotations

from postroom.services.webmail.context import WebmailContext
from postroom.services.webmail.folders import FolderTree


class MailLists:
    def __init__(self, ctx: WebmailContext, folders: FolderTree) -> None:
        self._ctx = ctx
        self._folders = folders
