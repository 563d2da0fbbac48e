"""Configuration of the HTTP half: its listeners and the platform's limits.

Kept apart from config.py (which includes it as ``[web]``) so that the web listeners' keys and
defaults sit together. Each listener has the keys every listener has (config.py
``ServiceConfig``); the registry (postroom/registry.py) names them ``web.admin``, ``web.https``,
``web.http`` and ``web.alt``. docs/web.md explains the defaults.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from postroom.config_base import Port, ServiceConfig, Tls
from postroom.config_dav import DavConfig
from postroom.config_eas import EasConfig
from postroom.config_webmail import WebmailConfig


def _d(text: str) -> Meta:
    return Meta(description=text)


class AdminHttpListener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    """WebAdmin, /metrics, /healthz and /readyz (HTTPS)."""

    port: Port = 1000
    tls: Tls = "implicit"


class HttpsListener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    """The public web port: webmail and client autoconfiguration (DAV and ActiveSync later)."""

    port: Port = 443
    tls: Tls = "implicit"


class PlainHttpListener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    """Plain HTTP: redirects to HTTPS, except the paths that must answer on it."""

    port: Port = 80
    tls: Tls = "none"


class AltHttpListener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    """MDaemon's webmail port (WorldClient's 3000), serving what 443 serves. TLS by default:
    the session cookies are ``Secure`` and a password must not cross the network in clear."""

    enabled: Annotated[bool, _d("Start this listener.")] = True
    port: Port = 3000
    tls: Tls = "implicit"


class WebOperationsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """WebAdmin's operations pages (docs/web.md): the dashboard's figures, the mail-log
    search, and how many rows a page shows."""

    dashboard_minutes: Annotated[int, _d(
        "Minutes of per-minute figures the dashboard keeps and draws (in memory, per "
        "server process)."), Meta(ge=5, le=1440)] = 60
    dashboard_refresh: Annotated[int, _d(
        "Seconds between two refreshes of the dashboard's figures in the browser (a small "
        "script; without it the page shows the figures of its loading)."),
                                 Meta(ge=1, le=3600)] = 5
    storage_interval: Annotated[float, _d(
        "Seconds the dashboard reuses its storage figure (summed over every mailbox in the "
        "store) before reading it again."), Meta(ge=0, le=86400)] = 30.0
    maillog_max_bytes: Annotated[int, _d(
        "Most octets of the log file (log.file, then its rotated copy log.file.1) one "
        "mail-log search reads, newest first."), Meta(ge=4096, le=1 << 34)] = 64 << 20
    maillog_max_lines: Annotated[int, _d(
        "Most log lines one mail-log search reads, newest first."),
                                 Meta(ge=100, le=100_000_000)] = 500_000
    maillog_max_results: Annotated[int, _d(
        "Most messages (queue ids, or refusals) one mail-log search returns."),
                                   Meta(ge=1, le=10_000)] = 100
    page_size: Annotated[int, _d(
        "Rows per page in the queue viewer and the audit log."), Meta(ge=10, le=5000)] = 100


class WebConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    admin: AdminHttpListener = msgspec.field(default_factory=AdminHttpListener)
    https: HttpsListener = msgspec.field(default_factory=HttpsListener)
    http: PlainHttpListener = msgspec.field(default_factory=PlainHttpListener)
    alt: AltHttpListener = msgspec.field(default_factory=AltHttpListener)
    operations: WebOperationsConfig = msgspec.field(default_factory=WebOperationsConfig)
    webmail: WebmailConfig = msgspec.field(default_factory=WebmailConfig)
    dav: DavConfig = msgspec.field(default_factory=DavConfig)
    eas: EasConfig = msgspec.field(default_factory=EasConfig)
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
    form_max_field: Annotated[int, _d(
        "Longest text field of a form posted to a WebAdmin page, in characters; a longer "
        "one gets 413 (web/forms.py)."), Meta(ge=256, le=1 << 20)] = 4096
    form_max_fields: Annotated[int, _d(
        "Most fields in one form posted to a WebAdmin page; more get 413 (web/forms.py)."),
                               Meta(ge=10, le=10000)] = 200
    # -- logging in (web/session.py, services/websessions.py, services/twofactor.py) ---------
    session_idle_timeout: Annotated[float, _d(
        "Seconds a web session may sit unused before it ends."),
                                    Meta(ge=60, le=30 * 86400)] = 1800.0
    session_lifetime: Annotated[float, _d(
        "Seconds a web session lasts at most, used or not; then the user logs in again."),
                                Meta(ge=60, le=365 * 86400)] = 43200.0
    session_cache_seconds: Annotated[float, _d(
        "Seconds a resolved session is remembered in memory, so a page does not read the "
        "store for its session on every request. Also the longest time a session ended by "
        "another node or by the CLI (or of an account disabled there) may still be "
        "honoured here; 0 = read the store on every request."), Meta(ge=0, le=60)] = 2.0
    login_step_timeout: Annotated[float, _d(
        "Seconds between the password step and the second step (the TOTP code, or the "
        "enrolment an administrator must do first) before the login starts over."),
                                  Meta(ge=30, le=3600)] = 300.0
    login_code_attempts: Annotated[int, _d(
        "Wrong TOTP or recovery codes allowed in one login before it starts over, and wrong "
        "passwords or codes in one session where /me asks for them again before it ends "
        "(each also counts as a failed login for the throttle and screening)."),
        Meta(ge=1, le=100)] = 5
    totp_admins: Annotated[Literal["required", "optional"], _d(
        "TOTP two-factor authentication for administrators (global and domain): "
        "\"required\" sends an administrator without it to enrolment right after the "
        "password, and nothing else can be done until enrolled; \"optional\" lets each "
        "choose.")] = "required"
    totp_users: Annotated[Literal["optional", "required", "off"], _d(
        "TOTP for other users: \"optional\" (each may enrol on the My account page), "
        "\"required\" (as for administrators), \"off\" (no enrolment offered; a user "
        "already enrolled keeps it).")] = "optional"
    totp_issuer: Annotated[str, _d(
        "The issuer name authenticator apps show next to the account; empty = "
        "\"Postroom <server host name>\".")] = ""
    # WebAdmin's directory pages (docs/web.md "WebAdmin pages")
    users_page_size: Annotated[int, _d(
        "Accounts per page of WebAdmin's user list when the visitor picks none."),
                               Meta(ge=10, le=1000)] = 50
    users_page_max: Annotated[int, _d(
        "Most accounts one page of WebAdmin's user list may show (the page-size menu stops "
        "here), so no request can ask for every account at once."),
                              Meta(ge=10, le=1000)] = 200
    import_batch: Annotated[int, _d(
        "Accounts created per transaction by a CSV import started from WebAdmin (each batch "
        "is committed and audited on its own)."), Meta(ge=1, le=10000)] = 200
    import_max_running: Annotated[int, _d(
        "CSV imports that may run at once (another is refused until one ends)."),
                                  Meta(ge=1, le=100)] = 2
    import_keep_seconds: Annotated[float, _d(
        "Seconds a finished import's progress stays readable before it is forgotten."),
                                   Meta(ge=60, le=604800)] = 3600.0
