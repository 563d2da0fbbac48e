"""``postroom device list|show|wipe|block|allow|forget``: ActiveSync devices (docs/eas.md).

A thin face over services/eas/devices.py, acting as the operator. A running server sees a
change made here at the device's next request (admission reads the store every time): a
wipe is sent when the phone next syncs, a block refuses it at once.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from postroom.app import Services
from postroom.cli.context import OPERATOR, UsageError, emit, emit_one, say, when
from postroom.services.eas import Eas
from postroom.services.eas.model import Device


def _row(d: Device) -> dict[str, Any]:
    return {"user": d.address, "device": d.device_id, "type": d.device_type,
            "model": d.model or d.friendly_name, "os": d.os, "version": d.version,
            "policy": d.policy_state.value, "wipe": d.wipe.value,
            "blocked": "yes" if d.blocked else "no",
            "first_seen": when(int(d.first_seen)), "last_seen": when(int(d.last_seen)),
            "last_sync": when(int(d.last_sync)) if d.last_sync else "never",
            "user_agent": d.user_agent}


def _eas(s: Services) -> Eas:
    if s.eas is None:
        raise UsageError("ActiveSync is not built on this server")
    return s.eas


async def device_cmd(s: Services, args: argparse.Namespace) -> int:
    devices = _eas(s).devices
    if args.action == "list":
        found = await devices.owned_by(OPERATOR, args.user) if args.user \
            else await devices.list()
        emit(args, [_row(d) for d in found], ["user", "device", "type", "model", "policy",
                                              "wipe", "blocked", "last_sync"])
        return 0
    device = await devices.manageable(OPERATOR, args.user, args.device)
    if args.action == "show":
        emit_one(args, _row(device))
        return 0
    if args.action == "wipe":
        await devices.wipe(device, OPERATOR, account_only=args.account_only)
        what = "remove this account's data from" if args.account_only else "wipe"
        say(f"{args.device} of {args.user}: asked to {what} the device at its next request"
            f" ({time.strftime('%Y-%m-%d %H:%M:%S')}); `postroom device show` tells when "
            "it has acknowledged")
        return 0
    if args.action in ("block", "allow"):
        await devices.block(device, OPERATOR, args.action == "block")
        say(f"{args.device} of {args.user}: {'blocked' if args.action == 'block' else 'allowed'}")
        return 0
    await devices.forget(device, OPERATOR)
    say(f"{args.device} of {args.user}: forgotten (its sync state is gone; if it comes "
        "back it provisions and syncs from scratch)")
    return 0


def add_device_parser(sub: Any, leaf: Any, actions: Any, with_services: Any) -> None:
    d = actions(sub("device", "ActiveSync devices: list them, wipe a lost phone, block or "
                    "allow a device, forget one."))
    ls = leaf(d, "list", "list devices (all, or one user's)", json_flag=True)
    ls.add_argument("--user", metavar="ADDRESS", help="only this account's devices")
    for name, text in (("show", "one device in full"),
                       ("wipe", "ask the device to wipe itself at its next request "
                                "(MS-ASPROV remote wipe)"),
                       ("block", "refuse the device's requests (HTTP 403 / Status 129)"),
                       ("allow", "lift a block"),
                       ("forget", "remove the device and its sync state")):
        p = leaf(d, name, text, json_flag=name == "show")
        p.add_argument("user", metavar="ADDRESS", help="the device's owner")
        p.add_argument("device", metavar="DEVICE_ID", help="the DeviceId `device list` shows")
        if name == "wipe":
            p.add_argument("--account-only", action="store_true",
                           help="remove only this account's data (devices speaking "
                                "ActiveSync 16.1); an older device is blocked instead of "
                                "being sent a whole-device wipe")
    for parser in d.choices.values():
        parser.set_defaults(func=with_services(device_cmd))
