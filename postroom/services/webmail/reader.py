"""One message taken apart for reading in webmail. (Built by the reading part of issue 23.)"""

from __future__ import annotations

from postroom.services.webmail.context import WebmailContext
from postroom.services.webmail.prefs import Preferences


class Reader:
    def __init__(self, ctx: WebmailContext, prefs: Preferences) -> None:
        self._ctx = ctx
        self._prefs = prefs
