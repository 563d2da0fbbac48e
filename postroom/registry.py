"""The listener registry: every network service the server offers, described as data.

A row names a listener (its label in the table ``postroom serve`` prints and in the logs), the
configuration section holding its keys, and the front-end that serves it. Every listener has
the same keys (config.py ``ServiceConfig``: enabled, port, listen, tls, connections_per_ip,
max_connections), whatever speaks on it: a TCP protocol session (SMTP, IMAP, POP3, ODMR) or an
HTTP application (kind ``asgi``: the web front-ends plug in here as rows with their own
front-end). The composition root (app.py) walks the rows; adding a service is adding a row and a
front-end factory, not another branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from postroom.config import Config
from postroom.config_base import ServiceConfig


@dataclass(frozen=True, slots=True)
class ServiceDef:
    label: str  # "imaps": the listener's name in the table and in logs
    section: str  # the dotted config path of its ServiceConfig: "imap.imaps"
    frontend: str  # which front-end factory serves it (app.py FRONTENDS)
    kind: Literal["tcp", "asgi"] = "tcp"
    note: str = ""

    def config(self, cfg: Config) -> ServiceConfig:
        node: object = cfg
        for part in self.section.split("."):
            node = getattr(node, part)
        assert isinstance(node, ServiceConfig)
        return node


REGISTRY: tuple[ServiceDef, ...] = (
    ServiceDef("smtp", "smtp.mx", "smtp-mx", note="MX"),
    ServiceDef("submission", "smtp.submission", "smtp-submission"),
    ServiceDef("submissions", "smtp.submissions", "smtp-submission"),
    ServiceDef("imap", "imap.imap", "imap"),
    ServiceDef("imaps", "imap.imaps", "imap"),
    ServiceDef("pop3", "pop3.pop3", "pop3"),
    ServiceDef("pop3s", "pop3.pop3s", "pop3"),
    ServiceDef("odmr", "odmr", "odmr"),
    ServiceDef("managesieve", "sieve.managesieve", "managesieve", note="Sieve scripts"),
    # The HTTP half (docs/web.md): one application per listener, its routes chosen by the
    # front-end: "web-admin" adds /metrics, /healthz and /readyz; "web-plain" redirects to
    # HTTPS except the paths that must answer in plain HTTP.
    ServiceDef("webadmin", "web.admin", "web-admin", kind="asgi", note="admin"),
    ServiceDef("https", "web.https", "web", kind="asgi"),
    ServiceDef("http", "web.http", "web-plain", kind="asgi", note="redirects"),
    ServiceDef("http-alt", "web.alt", "web", kind="asgi"),
)
