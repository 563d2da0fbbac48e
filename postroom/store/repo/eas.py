"""Exchange ActiveSync devices and sync states (migration 0022).

The repository stores and fetches; deciding what a device may do (admission, provisioning,
wipes) is services/eas/devices.py's business, and what a state holds is the owning
command's (a JSON text here). Saving a state is "the current becomes the previous, the new
becomes current" in one statement per row, so that a device that repeats a request whose
answer it lost is found under its previous key (MS-ASCMD §3.1.5.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from postroom.store.engine import Engine, Tx

_COLS = ("d.id, d.account_id, a.address, d.device_id, d.device_type, d.model, "
         "d.friendly_name, d.os, d.user_agent, d.version, d.policy_key, d.pending_key, "
         "d.policy_state, d.wipe, d.blocked, d.first_seen, d.last_seen, d.last_sync")
_FROM = "FROM eas_devices d JOIN accounts a ON a.id = d.account_id"
# what a device may tell about itself (Settings DeviceInformation, the User-Agent header)
INFO_FIELDS = ("device_type", "model", "friendly_name", "os", "user_agent", "version")


@dataclass(frozen=True, slots=True)
class DeviceRow:
    id: int
    account_id: int
    address: str
    device_id: str
    device_type: str
    model: str
    friendly_name: str
    os: str
    user_agent: str
    version: str
    policy_key: int
    pending_key: int  # the temporary key of Provision's first phase (0: none)
    policy_state: str
    wipe: str
    blocked: bool
    first_seen: int
    last_seen: int
    last_sync: int


@dataclass(frozen=True, slots=True)
class StateRow:
    sync_key: int
    data: str
    previous_key: int
    previous_data: str


def _device(r: Sequence[object]) -> DeviceRow:
    v = list(r)
    return DeviceRow(int(v[0]), int(v[1]), str(v[2]), str(v[3]),  # type: ignore[call-overload]
                     str(v[4]), str(v[5]), str(v[6]), str(v[7]), str(v[8]), str(v[9]),
                     int(v[10]), int(v[11]), str(v[12]), str(v[13]),  # type: ignore
                     bool(v[14]), int(v[15]), int(v[16]), int(v[17]))  # type: ignore


class EasRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- devices ---------------------------------------------------------------------------

    async def device(self, account_id: int, device_id: str) -> DeviceRow | None:
        def fn(tx: Tx) -> DeviceRow | None:
            r = tx.one(f"SELECT {_COLS} {_FROM} WHERE d.account_id = ? AND d.device_id = ?",
                       (account_id, device_id))
            return _device(r) if r else None
        return await self.engine.read(fn)

    async def device_by_id(self, row_id: int) -> DeviceRow | None:
        def fn(tx: Tx) -> DeviceRow | None:
            r = tx.one(f"SELECT {_COLS} {_FROM} WHERE d.id = ?", (row_id,))
            return _device(r) if r else None
        return await self.engine.read(fn)

    async def devices(self, account_id: int | None = None,
                      domain_id: int | None = None) -> list[DeviceRow]:
        """One account's devices, a domain's, or all, by owner address then device id."""
        def fn(tx: Tx) -> list[DeviceRow]:
            where, args = "", ()  # type: tuple[str, tuple[object, ...]]
            if account_id is not None:
                where, args = "WHERE d.account_id = ?", (account_id,)
            elif domain_id is not None:
                where, args = "WHERE a.domain_id = ?", (domain_id,)
            return [_device(r) for r in tx.all(
                f"SELECT {_COLS} {_FROM} {where} ORDER BY a.address, d.device_id", args)]
        return await self.engine.read(fn)

    async def register(self, account_id: int, device_id: str, device_type: str,
                       user_agent: str, version: str, now: int,
                       most: int) -> DeviceRow | None:
        """The device, created when new; None when the account already has ``most``
        devices (checked in the same transaction, so two new devices racing cannot both
        pass the bound)."""
        def fn(tx: Tx) -> DeviceRow | None:
            r = tx.one(f"SELECT {_COLS} {_FROM} WHERE d.account_id = ? AND d.device_id = ?",
                       (account_id, device_id))
            if r:
                return _device(r)
            count = tx.one("SELECT COUNT(*) FROM eas_devices WHERE account_id = ?",
                           (account_id,))
            if count and int(count[0]) >= most:
                return None
            tx.execute("INSERT INTO eas_devices (account_id, device_id, device_type, "
                       "user_agent, version, first_seen, last_seen) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (account_id, device_id, device_type, user_agent, version, now, now))
            r = tx.one(f"SELECT {_COLS} {_FROM} WHERE d.account_id = ? AND d.device_id = ?",
                       (account_id, device_id))
            return _device(r) if r else None
        return await self.engine.write(fn)

    async def update(self, row_id: int, **fields: object) -> None:
        """Set some columns of one device (names from a fixed list: never user text)."""
        allowed = set(INFO_FIELDS) | {"policy_key", "pending_key", "policy_state", "wipe",
                                      "blocked", "last_seen", "last_sync"}
        names = sorted(fields)
        if not names:
            return
        if not set(names) <= allowed:
            raise ValueError(f"unknown device columns: {set(names) - allowed}")
        sets = ", ".join(f"{n} = ?" for n in names)
        values = tuple(int(v) if isinstance(v, bool) else v for v in
                       (fields[n] for n in names))
        await self.engine.write(lambda tx: tx.execute(
            f"UPDATE eas_devices SET {sets} WHERE id = ?", (*values, row_id)))

    async def forget(self, row_id: int) -> bool:
        """Remove a device and its states (it registers anew at its next request)."""
        return await self.engine.write(lambda tx: tx.execute(
            "DELETE FROM eas_devices WHERE id = ?", (row_id,)) > 0)

    async def forget_idle(self, before: int) -> int:
        """Remove devices last seen before ``before`` (epoch seconds), with their states."""
        return await self.engine.write(lambda tx: tx.execute(
            "DELETE FROM eas_devices WHERE last_seen < ?", (before,)))

    # -- sync states -----------------------------------------------------------------------

    async def state(self, device: int, collection: str) -> StateRow | None:
        def fn(tx: Tx) -> StateRow | None:
            r = tx.one("SELECT sync_key, data, previous_key, previous_data FROM eas_states "
                       "WHERE device = ? AND collection = ?", (device, collection))
            if not r:
                return None
            return StateRow(int(r[0]), str(r[1]), int(r[2]), str(r[3]))
        return await self.engine.read(fn)

    async def save_state(self, device: int, collection: str, key: int, data: str,
                         now: int) -> None:
        """``key`` becomes current; the old current becomes the previous. Saving the key
        that is already current again (a retried request) replaces it and keeps the older
        previous, so a retry never loses the state before it."""
        def fn(tx: Tx) -> None:
            r = tx.one("SELECT sync_key, data, previous_key, previous_data FROM eas_states "
                       "WHERE device = ? AND collection = ?", (device, collection))
            if r is None:
                tx.execute("INSERT INTO eas_states (device, collection, sync_key, data, "
                           "updated) VALUES (?, ?, ?, ?, ?)",
                           (device, collection, key, data, now))
                return
            current = int(r[0])
            if key == current:
                tx.execute("UPDATE eas_states SET data = ?, updated = ? WHERE device = ? "
                           "AND collection = ?", (data, now, device, collection))
            elif current == 0 or key == 1:
                tx.execute("UPDATE eas_states SET sync_key = ?, data = ?, previous_key = 0, "
                           "previous_data = '', updated = ? WHERE device = ? AND "
                           "collection = ?", (key, data, now, device, collection))
            else:
                tx.execute("UPDATE eas_states SET previous_key = sync_key, previous_data = "
                           "data, sync_key = ?, data = ?, updated = ? WHERE device = ? AND "
                           "collection = ?", (key, data, now, device, collection))
        await self.engine.write(fn)

    async def drop_states(self, device: int, collection: str | None = None) -> int:
        if collection is None:
            return await self.engine.write(lambda tx: tx.execute(
                "DELETE FROM eas_states WHERE device = ?", (device,)))
        return await self.engine.write(lambda tx: tx.execute(
            "DELETE FROM eas_states WHERE device = ? AND collection = ?", (device, collection)))

    async def collections(self, device: int) -> list[str]:
        return await self.engine.read(lambda tx: [str(r[0]) for r in tx.all(
            "SELECT collection FROM eas_states WHERE device = ? ORDER BY collection",
            (device,))])
