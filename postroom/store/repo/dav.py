"""Groupware's index rows (schema version 20): dav_items, dav_props, dav_segments.

Items themselves are messages (store/repo/messages.py); an item row is written in the same
transaction as its message (``append_in``), so an item is never half stored."""

from __future__ import annotations

from postroom.store.engine import Engine


class DavRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
