"""ActiveSync devices and sync states on both stores (store/repo/eas.py, migration 0022,
services/eas/states.py): the per-user device bound checked in the registering transaction,
current and previous SyncKeys (a retried key is found, an older one is not), resets, and
what goes with a forgotten device or a removed account."""

from __future__ import annotations

from postroom.app import Services
from postroom.core.principal import Principal
from postroom.services.eas.model import SyncState, Verdict


async def _principal(services: Services, name: str) -> Principal:
    if not await services.directory.is_local_domain("example.com"):
        await services.directory.add_domain("example.com")
    rec = await services.directory.add_account(f"{name}@example.com", "Pass-word-1234")
    return await services.directory.principal_for(rec)


async def test_devices_register_once_and_are_bounded(services: Services) -> None:
    repo = services.store.eas
    who = await _principal(services, "ann")
    assert who.account_id is not None
    first = await repo.register(who.account_id, "P1", "iPhone", "ua", "16.1", 100, most=2)
    again = await repo.register(who.account_id, "P1", "iPhone", "ua", "16.1", 200, most=2)
    assert first is not None and again is not None and first.id == again.id
    assert again.first_seen == 100 and again.address == "ann@example.com"
    assert await repo.register(who.account_id, "P2", "Android", "", "14.1", 100, most=2)
    assert await repo.register(who.account_id, "P3", "Android", "", "14.1", 100, most=2) is None
    await repo.update(first.id, model="X", blocked=True, policy_key=7)
    row = await repo.device(who.account_id, "P1")
    assert row is not None and row.model == "X" and row.blocked and row.policy_key == 7
    assert [d.device_id for d in await repo.devices(who.account_id)] == ["P1", "P2"]


async def test_states_keep_the_current_and_the_previous_key(services: Services) -> None:
    eas = services.eas
    assert eas is not None
    who = await _principal(services, "bob")
    admission = await eas.devices.admit(who, "Phone", "iPhone", "Sync", "14.1", None, "")
    assert admission.verdict is Verdict.NEEDS_PROVISIONING and admission.device is not None
    device = admission.device
    states = eas.states
    assert await states.current(device, "5") is None
    await states.save(device, "5", SyncState(1, {"n": 1}))
    await states.save(device, "5", SyncState(2, {"n": 2}))
    await states.save(device, "5", SyncState(3, {"n": 3}))
    assert (await states.load(device, "5", 3) or SyncState(0)).data == {"n": 3}
    assert (await states.load(device, "5", 2) or SyncState(0)).data == {"n": 2}  # a retry
    assert await states.load(device, "5", 1) is None  # older: the device must resync
    # the retry with key 2 answers again and saves key 3 anew; key 2 stays the previous
    await states.save(device, "5", SyncState(3, {"n": "3b"}))
    assert (await states.load(device, "5", 2) or SyncState(0)).data == {"n": 2}
    assert (await states.load(device, "5", 3) or SyncState(0)).data == {"n": "3b"}
    await states.save(device, "5", SyncState(1, {"n": "fresh"}))  # after SyncKey 0
    assert await states.load(device, "5", 3) is None
    await states.save(device, "hierarchy", SyncState(1, {}))
    assert await states.collections(device) == ["5", "hierarchy"]
    await states.reset(device, "5")
    assert await states.collections(device) == ["hierarchy"]


async def test_forgetting_a_device_or_removing_the_account_takes_its_states(
        services: Services) -> None:
    eas = services.eas
    assert eas is not None
    repo = services.store.eas
    who = await _principal(services, "cy")
    device = (await eas.devices.admit(who, "Gone", "iPhone", "Sync", "14.1", None, "")).device
    assert device is not None
    await eas.states.save(device, "7", SyncState(1, {"a": 1}))
    assert await repo.forget(device.id)
    assert await repo.state(device.id, "7") is None
    device = (await eas.devices.admit(who, "Idle", "iPhone", "Sync", "14.1", None, "")).device
    assert device is not None
    assert await repo.forget_idle(before=int(device.last_seen) + 1) == 1
    assert await repo.devices(who.account_id) == []
