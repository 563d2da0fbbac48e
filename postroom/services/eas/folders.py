"""Folders (a part of issue 25 writes it)."""

from __future__ import annotations

from postroom.services.eas.context import EasContext


class Folders:
    def __init__(self, ctx: EasContext) -> None:
        self._ctx = ctx
