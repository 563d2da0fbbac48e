"""``/api/v1`` ActiveSync devices: the API's face of ``postroom device …``.

    GET    /users/{address}/devices                     a user's devices
    POST   /users/{address}/devices/{device}/wipe       remote wipe at the next request
    POST   /users/{address}/devices/{device}/block      refuse the device
    POST   /users/{address}/devices/{device}/allow      lift a block
    DELETE /users/{address}/devices/{device}            forget it (and its sync state)
    GET    /me/devices, POST /me/devices/{device}/wipe  the caller's own (a lost phone)

services/eas/devices.py decides who may: the owner, an administrator of the owner's domain,
a global administrator; for anyone else the account is not there (404).
"""

from __future__ import annotations

from postroom.services.eas import Eas
from postroom.services.eas.model import Device
from postroom.web.api.framework import Api, Call, In, Out, Problem

USERS, ME = "users", "self-service"


class DeviceOut(Out):
    device: str  # the DeviceId the device sends
    type: str
    model: str
    os: str
    user_agent: str
    version: str  # the ActiveSync version it last used
    policy: str  # none | pending | provisioned
    wipe: str  # none | requested | account-requested | sent | done
    blocked: bool
    first_seen: int  # Unix times
    last_seen: int
    last_sync: int  # 0: never


class WipeIn(In):
    account_only: bool = False  # only this account's data (16.1 devices; older are blocked)


def _out(d: Device) -> DeviceOut:
    return DeviceOut(device=d.device_id, type=d.device_type, model=d.model or d.friendly_name,
                     os=d.os, user_agent=d.user_agent, version=d.version,
                     policy=d.policy_state.value, wipe=d.wipe.value, blocked=d.blocked,
                     first_seen=int(d.first_seen), last_seen=int(d.last_seen),
                     last_sync=int(d.last_sync))


def _eas(api: Api) -> Eas:
    eas = getattr(api.services, "eas", None)
    if eas is None:
        raise Problem(404, "ActiveSync is not enabled on this server")
    assert isinstance(eas, Eas)
    return eas


def register(api: Api) -> None:
    base = "/users/{address}/devices"

    @api.add("GET", base, summary="The account's ActiveSync devices", tag=USERS,
             cli="postroom device list --user", out=list[DeviceOut])
    async def list_devices(c: Call) -> list[DeviceOut]:
        return [_out(d) for d in await _eas(api).devices.owned_by(c.actor, c.param("address"))]

    @api.add("POST", base + "/{device}/wipe", summary="Ask the device to wipe itself (or "
             "only this account's data) at its next request", tag=USERS,
             cli="postroom device wipe", body=WipeIn, out=DeviceOut)
    async def wipe_device(c: Call) -> DeviceOut:
        devices = _eas(api).devices
        device = await devices.manageable(c.actor, c.param("address"), c.param("device"),
                                          owner_may=True)
        body = c.body if isinstance(c.body, WipeIn) else WipeIn()
        await devices.wipe(device, c.actor, account_only=body.account_only)
        return _out(await devices.manageable(c.actor, c.param("address"), c.param("device"),
                                             owner_may=True))

    for action in ("block", "allow"):
        async def flip(c: Call, blocked: bool = action == "block") -> DeviceOut:
            devices = _eas(api).devices
            device = await devices.manageable(c.actor, c.param("address"), c.param("device"))
            await devices.block(device, c.actor, blocked)
            return _out(await devices.manageable(c.actor, c.param("address"),
                                                 c.param("device")))
        flip.__name__ = f"{action}_device"
        api.add("POST", base + f"/{{device}}/{action}",
                summary="Refuse the device's requests (403 / Status 129)" if action == "block"
                else "Lift a block", tag=USERS, cli=f"postroom device {action}",
                out=DeviceOut)(flip)

    @api.add("DELETE", base + "/{device}", summary="Forget the device and its sync state "
             "(it provisions and syncs from scratch if it comes back)", tag=USERS,
             cli="postroom device forget")
    async def forget_device(c: Call) -> None:
        devices = _eas(api).devices
        await devices.forget(await devices.manageable(c.actor, c.param("address"),
                                                      c.param("device")), c.actor)

    @api.add("GET", "/me/devices", summary="The caller's ActiveSync devices", tag=ME,
             out=list[DeviceOut])
    async def my_devices(c: Call) -> list[DeviceOut]:
        return [_out(d) for d in await _eas(api).devices.owned_by(c.actor, _me(c))]

    @api.add("POST", "/me/devices/{device}/wipe", summary="Wipe one of the caller's own "
             "devices (a lost phone) at its next request", tag=ME, body=WipeIn, out=DeviceOut)
    async def wipe_my_device(c: Call) -> DeviceOut:
        devices = _eas(api).devices
        device = await devices.manageable(c.actor, _me(c), c.param("device"), owner_may=True)
        body = c.body if isinstance(c.body, WipeIn) else WipeIn()
        await devices.wipe(device, c.actor, account_only=body.account_only)
        return _out(next(d for d in await devices.owned_by(c.actor, _me(c))
                         if d.device_id == device.device_id))


def _me(c: Call) -> str:
    address = c.actor.principal.address
    if address is None:
        raise Problem(404, "the operator has no devices of its own")
    return address
