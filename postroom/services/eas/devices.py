"""The device registry: who may sync, with which policy, and what an administrator asked.

Every ActiveSync request passes ``admit`` before its command runs (web/eas/app.py): the
device is registered on first sight (bounded per user), refreshed (version, user agent; at
most one write a minute when nothing changed), and judged — blocked, a pending remote wipe,
not provisioned, a stale policy key, too many devices (model.Verdict). Provision (MS-ASPROV)
calls ``begin_provisioning``/``acknowledge`` for its two phases and ``wipe_sent``/``wiped``
for a wipe. Administrators (CLI, API, WebAdmin) call ``wipe``, ``block``, ``allow``,
``forget``; those are authorised by the caller's admin layer and audited here.

Policy keys are random non-zero 32-bit numbers (MS-ASPROV §2.2.2.42), stored, so that a
restart does not make every phone provision again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

from postroom.core.actor import Actor, Origin
from postroom.core.errors import MailError, not_found
from postroom.core.principal import Principal
from postroom.services.eas.context import EasContext
from postroom.services.eas.model import (
    Admission,
    Device,
    PolicyState,
    Verdict,
    WipeState,
)
from postroom.services.eas.states import SyncStates
from postroom.store.repo.eas import DeviceRow

log = logging.getLogger("postroom.eas")

_REFRESH = 60  # seconds between last-seen writes when nothing else changed
_PENDING_WIPES = (WipeState.REQUESTED, WipeState.ACCOUNT_REQUESTED, WipeState.SENT)


def device_of(row: DeviceRow) -> Device:
    return Device(row.id, row.account_id, row.address, row.device_id, row.device_type,
                  row.model, row.friendly_name, row.os, row.user_agent, row.version,
                  row.policy_key, _enum(PolicyState, row.policy_state, PolicyState.NONE),
                  _enum(WipeState, row.wipe, WipeState.NONE), row.blocked,
                  float(row.first_seen), float(row.last_seen), float(row.last_sync))


def _enum(kind: Any, value: str, default: Any) -> Any:
    try:
        return kind(value)
    except ValueError:
        return default


def _new_key() -> int:
    return secrets.randbelow(0xFFFFFFFE) + 1


class Devices:
    def __init__(self, ctx: EasContext, states: SyncStates) -> None:
        self._ctx = ctx
        self._repo = ctx.store.eas
        self._states = states
        self.on_forget: list[Any] = []  # callbacks(device) when a device is forgotten
        self._swept = 0.0  # when idle devices were last forgotten (``_sweep``)
        self._sweeping: asyncio.Task[int] | None = None

    # -- every request ---------------------------------------------------------------------

    async def admit(self, principal: Principal, device_id: str, device_type: str,
                    command: str, version: str, policy_key: str | None,
                    user_agent: str) -> Admission:
        """Before every command: register or refresh the device (last seen, version, user
        agent), then say whether the command may run (model.Verdict). Provision itself is
        always admitted (it is how a device leaves NEEDS_PROVISIONING and learns a wipe)."""
        if principal.account_id is None:
            return Admission(Verdict.BLOCKED, None)
        now = int(time.time())
        cfg = self._ctx.config
        self._sweep(now)
        row = await self._repo.device(principal.account_id, device_id)
        if row is None:
            row = await self._repo.register(principal.account_id, device_id, device_type,
                                            user_agent[:256], version, now,
                                            cfg.max_devices_per_user)
            if row is None:
                log.info("eas: %s has %d devices already; %s refused", principal.address,
                         cfg.max_devices_per_user, device_id)
                return Admission(Verdict.TOO_MANY_DEVICES, None)
            log.info("eas: new device %s (%s) for %s", device_id, device_type,
                     principal.address)
        else:
            changes: dict[str, object] = {}
            if row.version != version:
                changes["version"] = version
            if user_agent and row.user_agent != user_agent[:256]:
                changes["user_agent"] = user_agent[:256]
            if device_type and row.device_type != device_type:
                changes["device_type"] = device_type
            if changes or now - row.last_seen >= _REFRESH:
                changes["last_seen"] = now
                await self._repo.update(row.id, **changes)
                row = await self._repo.device_by_id(row.id) or row
        device = device_of(row)
        if device.blocked or device.wipe is WipeState.DONE:
            # a device that acknowledged a wipe stays shut out until an administrator forgets
            # it (it comes back as a new device that must provision): acknowledging must not
            # be a way back in with the old policy key
            return Admission(Verdict.BLOCKED, device)
        if device.wipe in _PENDING_WIPES:
            if device.wipe is WipeState.ACCOUNT_REQUESTED and \
                    _version(version) < (16, 1) and command != "Provision":
                # account-only wipe exists from 16.1 (MS-ASPROV §2.2.2.1); an older device
                # is never sent a whole-device wipe it was not asked for: it is shut out
                return Admission(Verdict.BLOCKED, device)
            return Admission(Verdict.OK if command == "Provision" else Verdict.WIPE, device)
        if command == "Provision" or not cfg.require_provisioning:
            return Admission(Verdict.OK, device)
        if device.policy_state is not PolicyState.PROVISIONED or device.policy_key == 0:
            return Admission(Verdict.NEEDS_PROVISIONING, device)
        if policy_key in (None, "", "0"):
            return Admission(Verdict.NEEDS_PROVISIONING, device)
        if policy_key != str(device.policy_key):
            return Admission(Verdict.INVALID_POLICY_KEY, device)
        return Admission(Verdict.OK, device)

    def _sweep(self, now: int) -> None:
        """Once a day, in the background of a request: forget devices idle longer than
        ``keep_sync_states`` days, so that abandoned phones do not keep state forever (no
        scheduler of its own: a server nobody syncs with has nothing to forget)."""
        if now - self._swept < 86400 or (self._sweeping and not self._sweeping.done()):
            return
        self._swept = now
        self._sweeping = asyncio.get_running_loop().create_task(self.forget_idle())

    async def synced(self, device: Device) -> None:
        """A Sync or Ping succeeded (the device list's "last sync"), at most once a minute."""
        now = int(time.time())
        if now - device.last_sync >= _REFRESH:
            await self._repo.update(device.id, last_sync=now)

    async def set_information(self, device: Device, fields: dict[str, str]) -> None:
        """Settings DeviceInformation (MS-ASCMD §2.2.3.50) or Provision's copy of it:
        Model, FriendlyName, OS, UserAgent, bounded and stored for the device list."""
        names = {"model": "model", "friendlyname": "friendly_name", "os": "os",
                 "useragent": "user_agent"}
        changes = {names[k.lower()]: v[:256] for k, v in fields.items()
                   if k.lower() in names and v}
        if changes:
            await self._repo.update(device.id, **changes)

    # -- Provision (MS-ASPROV §3.2.5.1) ----------------------------------------------------

    async def begin_provisioning(self, device: Device) -> int:
        """Phase 1: a temporary key the device must acknowledge."""
        key = _new_key()
        await self._repo.update(device.id, pending_key=key,
                                policy_state=PolicyState.PENDING.value)
        return key

    async def acknowledge(self, device: Device, temporary_key: str) -> int | None:
        """Phase 2: the device accepted the policy with the temporary key; the final key,
        or None when the key is not the one handed out (Policy Status 5)."""
        row = await self._repo.device_by_id(device.id)
        if row is None or not row.pending_key or str(row.pending_key) != temporary_key:
            return None
        key = _new_key()
        await self._repo.update(device.id, policy_key=key, pending_key=0,
                                policy_state=PolicyState.PROVISIONED.value)
        log.info("eas: device %s of %s provisioned", device.device_id, device.address)
        return key

    async def wipe_sent(self, device: Device) -> None:
        await self._repo.update(device.id, wipe=WipeState.SENT.value)

    async def wiped(self, device: Device, status: str) -> None:
        """The device acknowledged the wipe it was sent (Status 1: done; 2: it failed).
        Called only in the SENT state (web/eas/provision.py)."""
        await self._repo.update(device.id, wipe=WipeState.DONE.value if status == "1"
                                else WipeState.SENT.value)
        log.warning("eas: device %s of %s acknowledged the remote wipe (status %s)",
                    device.device_id, device.address, status)
        owner = Principal(device.account_id, device.address, None)
        await self._ctx.audit.record(owner, Origin("eas", device.device_id), "eas.wiped",
                                     device.address, {"device": device.device_id,
                                                      "status": status})

    async def account_only(self, device: Device) -> bool:
        """Whether the pending wipe is the account-only kind (AccountOnlyRemoteWipe)."""
        row = await self._repo.device_by_id(device.id)
        return row is not None and row.wipe == WipeState.ACCOUNT_REQUESTED.value

    # -- administration (authorised and audited here) ---------------------------------------

    async def _domain_of(self, address: str) -> int | None:
        try:
            return (await self._ctx.directory.require_account(address)).domain_id
        except MailError:
            return None

    async def owned_by(self, actor: Actor, address: str) -> list[Device]:
        """The devices of ``address``, for its owner, an administrator of its domain or a
        global administrator; for anyone else the account does not exist (NOT_FOUND, as a
        missing one)."""
        try:
            rec = await self._ctx.directory.require_account(address)
        except MailError:
            raise not_found(f"no account {address}") from None
        who = actor.principal
        if not (who.system or who.administers(rec.domain_id) or who.account_id == rec.id):
            raise not_found(f"no account {address}")
        return await self.list(rec.id)

    async def manageable(self, actor: Actor, address: str, device_id: str, *,
                         owner_may: bool = False) -> Device:
        """One device ``actor`` may act on: an administrator of the owner's domain (or a
        global one) always; the owner only where ``owner_may`` (wiping a lost phone) — never
        blocking, allowing or forgetting, which would undo an administrator's block or
        wipe. Anyone else: NOT_FOUND, as for a missing account."""
        devices = await self.owned_by(actor, address)
        who = actor.principal
        if not owner_may and not who.system and not (
                devices and who.administers(await self._domain_of(address))):
            raise not_found(f"{address} has no device {device_id}")
        for device in devices:
            if device.device_id == device_id:
                return device
        raise not_found(f"{address} has no device {device_id}")


    async def list(self, account_id: int | None = None,
                   domain_id: int | None = None) -> list[Device]:
        return [device_of(r) for r in await self._repo.devices(account_id, domain_id)]

    async def find(self, account_id: int, device_id: str) -> Device | None:
        row = await self._repo.device(account_id, device_id)
        return device_of(row) if row else None

    async def wipe(self, device: Device, actor: Actor, *, account_only: bool = False) -> None:
        """Ask the device to wipe itself (or only this account, 16.1) at its next request."""
        state = WipeState.ACCOUNT_REQUESTED if account_only else WipeState.REQUESTED
        # the policy key goes too: nothing but Provision (which delivers the wipe) works now
        await self._repo.update(device.id, wipe=state.value, policy_key=0, pending_key=0,
                                policy_state=PolicyState.NONE.value)
        await self._ctx.audit.record(actor.principal, actor.origin, "eas.wipe", device.address,
                                     {"device": device.device_id,
                                      "account_only": account_only})

    async def block(self, device: Device, actor: Actor, blocked: bool = True) -> None:
        await self._repo.update(device.id, blocked=blocked)
        await self._ctx.audit.record(actor.principal, actor.origin,
                                     "eas.block" if blocked else "eas.allow", device.address,
                                     {"device": device.device_id})

    async def forget(self, device: Device, actor: Actor) -> None:
        """Remove the device and its states (and a pending wipe): it registers anew."""
        await self._repo.forget(device.id)
        for callback in self.on_forget:
            callback(device)
        await self._ctx.audit.record(actor.principal, actor.origin, "eas.forget", device.address,
                                     {"device": device.device_id})

    async def forget_idle(self) -> int:
        """Forget devices idle longer than ``web.eas.keep_sync_states`` days."""
        before = int(time.time()) - self._ctx.config.keep_sync_states * 86400
        return await self._repo.forget_idle(before)


def _version(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (0,)
