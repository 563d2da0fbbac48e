"""Durable sync states: what each SyncKey stands for, per device and collection.

A device names its position in a collection by a SyncKey; the server must know, for that
key, what the device has (the owning command's record: services/eas/model.SyncState.data).
Kept in the store (store/repo/eas.py, migration 0022), committed before the response that
names the key is sent, so a restart never forces a full resync; the previous key's record
is kept too, so that a device that lost a response and repeats its request with the old key
is answered again instead of being reset (MS-ASCMD §3.1.5.3; the tine20 and Z-Push reports
of phones on bad links resyncing everything are that mistake).
"""

from __future__ import annotations

import json
import time
from typing import Any

from postroom.services.eas.context import EasContext
from postroom.services.eas.model import Device, SyncState


class SyncStates:
    """One row per (device, collection): the current SyncKey's state and the previous one.

    ``collection`` is a folder's ServerId, or ``"hierarchy"`` for FolderSync."""

    def __init__(self, ctx: EasContext) -> None:
        self._repo = ctx.store.eas

    async def load(self, device: Device, collection: str, key: int) -> SyncState | None:
        """The state for ``key``: the current one, or the previous one when the device
        repeats its last request; None when the key is neither (Status 3: resync)."""
        if key <= 0:
            return None
        row = await self._repo.state(device.id, collection)
        if row is None:
            return None
        if row.sync_key == key:
            return SyncState(key, _data(row.data))
        if row.previous_key == key and row.previous_data:
            return SyncState(key, _data(row.previous_data))
        return None

    async def current(self, device: Device, collection: str) -> SyncState | None:
        row = await self._repo.state(device.id, collection)
        if row is None or row.sync_key <= 0:
            return None
        return SyncState(row.sync_key, _data(row.data))

    async def save(self, device: Device, collection: str, state: SyncState) -> None:
        """``state`` becomes current; the old current becomes the previous; older ones are
        dropped. Durable (committed) before it returns: the response naming the new key is
        sent after. Saving after a retried (previous) key replaces the current one."""
        await self._repo.save_state(device.id, collection, state.key,
                                    json.dumps(state.data, separators=(",", ":")),
                                    int(time.time()))

    async def reset(self, device: Device, collection: str | None = None) -> None:
        """Forget one collection's states (SyncKey 0), or all of the device's."""
        await self._repo.drop_states(device.id, collection)

    async def collections(self, device: Device) -> list[str]:
        """The collections the device has states for."""
        return await self._repo.collections(device.id)


def _data(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
