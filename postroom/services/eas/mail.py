"""MailItems (a part of issue 25 writes it)."""

from __future__ import annotations

from postroom.services.eas.context import EasContext
from postroom.services.eas.folders import Folders


class MailItems:
    def __init__(self, ctx: EasContext, folders: Folders) -> None:
        self._ctx = ctx
        self._folders = folders
