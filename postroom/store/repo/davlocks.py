"""WebDAV locks of the file area (RFC 4918 §6-7), durable so that a restart keeps them."""

from __future__ import annotations

from postroom.store.engine import Engine


class DavLockRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
