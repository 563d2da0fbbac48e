"""Configuration of the HTTP half: its listeners and the platform's limits.

Kept apart from config.py (which includes it as ``[web]``) so that the web listeners' keys and
defaults sit together. Each listener has the keys every listener has (config.py
``ServiceConfig``); the registry (postroom/registry.py) names them ``web.admin``, ``web.https``,
``web.http`` and ``web.alt``. docs/web.md explains the defaults.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from postroom.config_base import Port, ServiceConfig, Tls


def _d(text: str) -> Meta:
    return Meta(description=text)


class AdminHttpListener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    """WebAdmin, /metrics, /healthz and /readyz (HTTPS)."""

    port: Port = 1000
    tls: Tls = "implicit"


class HttpsListener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    """The public web port: autoconfiguration now, webmail and the rest later."""

    port: Port = 443
    tls: Tls = "implicit"


class PlainHttpListener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    """Plain HTTP: redirects to HTTPS, except the paths that must answer on it."""

    port: Port = 80
    tls: Tls = "none"


class AltHttpListener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    """MDaemon's alternative web port; off unless asked for."""

    enabled: Annotated[bool, _d("Start this listener.")] = False
    port: Port = 3000
    tls: Tls = "none"


class WebConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    admin: AdminHttpListener = msgspec.field(default_factory=AdminHttpListener)
    https: HttpsListener = msgspec.field(default_factory=HttpsListener)
    http: PlainHttpListener = msgspec.field(default_factory=PlainHttpListener)
    alt: AltHttpListener = msgspec.field(default_factory=AltHttpListener)
    max_body_size: Annotated[int, _d(
        "Largest request body accepted, in octets; a larger one gets 413 before the "
        "application reads it."), Meta(ge=1024, le=1 << 31)] = 1 << 20
    hsts_max_age: Annotated[int, _d(
        "Seconds of Strict-Transport-Security sent on TLS listeners (RFC 6797 §6.1.1); "
        "0 = no header."), Meta(ge=0)] = 31_536_000
    metrics_networks: Annotated[list[str], _d(
        "Networks (CIDR) that may read /metrics, /healthz and /readyz on the admin listener. "
        "Default: loopback only.")] = msgspec.field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    keepalive_timeout: Annotated[float, _d(
        "Seconds an idle HTTP keep-alive connection is kept open."),
                                 Meta(gt=0, le=3600)] = 5.0
    api_token_cache: Annotated[float, _d(
        "Seconds an API token's check is remembered in memory. A token revoked through this "
        "server stops at once; one revoked by another process (the CLI, another node) stops "
        "within this time."), Meta(ge=0, le=300)] = 2.0
    max_header_size: Annotated[int, _d(
        "Largest request head (request line and header fields), in octets; a larger one is "
        "answered 431/400 and the connection closed."), Meta(ge=1024, le=1 << 20)] = 16384
