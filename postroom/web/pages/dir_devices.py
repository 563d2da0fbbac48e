"""A user's ActiveSync devices in WebAdmin: the list (type, model, policy, last sync, wipe
and block state) with wipe, account-only wipe, block, allow and forget — the page of
``postroom device`` and ``/api/v1/users/{address}/devices``.

services/eas/devices.py decides who may (the user's domain administrator or a global one;
anyone else finds no such account) and audits every action; a wipe reaches the device at its
next request (docs/eas.md).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import not_found
from postroom.services.eas import Eas
from postroom.web.forms import back, read_form
from postroom.web.pages.dir_common import admin as require_admin
from postroom.web.pages.dir_common import pages, path_param, view
from postroom.web.pages.dir_users import user_url

ACTIONS = ("wipe", "wipe-account", "block", "allow", "forget")
_DONE = {"wipe": "will be wiped at its next request",
         "wipe-account": "will remove this account's data at its next request",
         "block": "is blocked", "allow": "is allowed again", "forget": "is forgotten"}


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts else "never"


def routes(eas: Eas | None) -> list[BaseRoute]:
    if eas is None:
        return []
    devices = eas.devices

    @pages
    async def index(request: Request) -> Response:
        user = require_admin(request)
        address = path_param(request, "address")
        found = await devices.owned_by(user.actor, address)
        return view(request, "admin/devices.html", {
            "address": address, "devices": found, "when": _when, "user_url": user_url})

    @pages
    async def act(request: Request) -> Response:
        user = require_admin(request)
        address = path_param(request, "address")
        await read_form(request)  # the CSRF token is checked by the session layer
        action = path_param(request, "action")
        if action not in ACTIONS:
            raise not_found(f"no action {action}")
        device = await devices.manageable(user.actor, address, path_param(request, "device"))
        if action in ("wipe", "wipe-account"):
            await devices.wipe(device, user.actor, account_only=action == "wipe-account")
        elif action in ("block", "allow"):
            await devices.block(device, user.actor, action == "block")
        else:
            await devices.forget(device, user.actor)
        return back(user_url(address, "/devices"),
                    f"Device {device.device_id} {_DONE[action]}.")

    return [Route("/users/{address}/devices", index, methods=["GET"]),
            Route("/users/{address}/devices/{device}/{action}", act, methods=["POST"])]
