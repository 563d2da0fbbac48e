"""Push (a part of issue 25 writes it)."""

from __future__ import annotations

from postroom.services.eas.context import EasContext


class Push:
    def __init__(self, ctx: EasContext) -> None:
        self._ctx = ctx

    async def close(self) -> None:
        """Wake every waiting Ping/Sync so that shutdown does not wait for heartbeats."""
        return None
