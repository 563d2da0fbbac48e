"""Durable sync states (part 2 of issue 25 writes the store behind it)."""

from __future__ import annotations

from postroom.services.eas.context import EasContext
from postroom.services.eas.model import Device, SyncState


class SyncStates:
    """One row per (device, collection): the current SyncKey's state and the previous one.

    ``collection`` is a folder's ServerId, or ``"hierarchy"`` for FolderSync."""

    def __init__(self, ctx: EasContext) -> None:
        self._ctx = ctx

    async def load(self, device: Device, collection: str, key: int) -> SyncState | None:
        """The state for ``key``: the current one, or the previous one when the device
        repeats its last request; None when the key is neither (Status 3: resync)."""
        raise NotImplementedError

    async def current(self, device: Device, collection: str) -> SyncState | None:
        raise NotImplementedError

    async def save(self, device: Device, collection: str, state: SyncState) -> None:
        """``state`` becomes current (its key must be the current key + 1, or 1 after a
        reset); the old current becomes the previous; older ones are dropped. Durable
        (committed) before it returns: the response naming the new key is sent after."""
        raise NotImplementedError

    async def reset(self, device: Device, collection: str | None = None) -> None:
        """Forget one collection's states (SyncKey 0), or all of the device's."""
        raise NotImplementedError
