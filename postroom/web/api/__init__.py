"""The JSON API, ``/api/v1`` (docs/api.md): the admin services' second face, next to the CLI.

One table of endpoints (web/api/framework.py), filled by one module per area: ``directory``
(domains, users, aliases, groups, administrators, the caller and their tokens), ``logins``
(second-factor reset, ending sessions, one's app passwords), ``mail``
(folders, ACLs, the queue), ``relay`` (gateways, ATRN, MultiPOP, screening) and
``operations`` (DKIM, DNS, BATV, audit, status), ``sieve`` (users' and administrators' Sieve
scripts). The OpenAPI 3.1 document is built once from
that table and served at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import msgspec
from starlette.routing import BaseRoute, Mount

from postroom.web.api import devices, directory, logins, mail, operations, pim, relay, sieve
from postroom.web.api.framework import JSON, PREFIX, Api, ApiServices, ApiSettings, Call
from postroom.web.api.openapi import document


def build(services: ApiServices, settings: ApiSettings) -> Api:
    """The endpoint table with every area registered, the document's endpoint included."""
    api = Api(services, settings)
    for area in (directory, logins, mail, relay, operations, pim, devices, sieve):
        area.register(api)
    holder: list[bytes] = []

    @api.add("GET", "/openapi.json", summary="This API's OpenAPI 3.1 document", tag="meta",
             out=bytes, raw=JSON, auth=False)
    async def openapi(c: Call) -> bytes:
        return holder[0]

    holder.append(msgspec.json.encode(document(api.endpoints)))
    return api


def routes(services: ApiServices, settings: ApiSettings) -> list[BaseRoute]:
    return [Mount(PREFIX, routes=build(services, settings).routes())]
