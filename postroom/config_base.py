"""The keys every listener has (postroom/registry.py), shared by config.py and config_web.py.

Its own module so that the sections kept apart from config.py (config_web.py) can define
listeners without importing config.py, which includes them.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta


def _d(text: str) -> Meta:
    return Meta(description=text)


TlsMode = Literal["starttls", "implicit", "none"]


class ServiceConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One listener (postroom/registry.py): the same keys for every TCP service."""

    enabled: Annotated[bool, _d("Start this listener.")] = True
    port: Annotated[int, _d("TCP port (before port_offset)."), Meta(ge=0, le=65535)] = 0
    listen: Annotated[list[str], _d("Addresses to bind; empty = server.listen.")] = \
        msgspec.field(default_factory=list)
    tls: Annotated[TlsMode, _d("'starttls' (plain, upgraded by the client's STARTTLS/STLS), "
                               "'implicit' (TLS from the first byte) or 'none' (no TLS: "
                               "passwords only from server.plaintext_auth_networks).")] = \
        "starttls"
    connections_per_ip: Annotated[int, _d("Concurrent connections one client address may "
                                          "hold here; 0 = limits.connections_per_ip."),
                                  Meta(ge=0)] = 0
    max_connections: Annotated[int, _d("Concurrent connections here; 0 = "
                                       "limits.max_connections."), Meta(ge=0)] = 0


# Each listener's keys with its own defaults. Defaults live on the class, not in the parent's
# default_factory, so that a file (or --set) giving one key, say ``enabled``, keeps the standard
# port and TLS mode of the others.
Port = Annotated[int, _d("TCP port (before port_offset)."), Meta(ge=0, le=65535)]
Tls = Annotated[TlsMode, _d("'starttls', 'implicit' or 'none' (as for every listener).")]
