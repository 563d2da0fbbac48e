"""HTTP Basic authentication (RFC 7617) for the clients that cannot do a web login: DAV
clients and ActiveSync devices. It is IMAP LOGIN over HTTP: the throttle waits first
(``before``), a failure is logged, counted and punished (``failed``), a success noted
(``succeeded``), app passwords work because ``AuthService.password`` accepts them, and a
password travels only inside TLS or from ``server.plaintext_auth_networks``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from starlette.requests import Request

from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.net.listener import in_networks
from postroom.services.auth import AuthService
from postroom.web.context import WebSettings


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why no principal: the status to answer (401 with a challenge, or 403) and a text."""

    status: int
    text: str
    challenge: bool  # send WWW-Authenticate


def decode_basic(value: str) -> tuple[str, str] | None:
    """(user, password) of a Basic Authorization header (RFC 7617 §2), UTF-8."""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic" or not token or len(token) > 4096:
        return None
    try:
        raw = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = raw.partition(":")
    if not sep or not user or len(user) > 320 or len(password) > 1024:
        return None
    return user, password


async def authenticate(request: Request, auth: AuthService, settings: WebSettings,
                       protocol: str) -> Principal | Refusal:
    """The principal of a Basic Authorization header, or why not. ``protocol`` names the
    front-end in the login log line (``dav``, ``eas``)."""
    header = request.headers.get("authorization")
    if header is None:
        return Refusal(401, "credentials required", True)
    ip = request.client.host if request.client else ""
    if not settings.tls and not in_networks(ip, settings.plaintext_networks):
        return Refusal(403, "use HTTPS: passwords are not accepted on a plain connection",
                       False)
    creds = decode_basic(header)
    if creds is None:
        await auth.before(ip)
        await auth.failed(protocol, ip, "")
        return Refusal(401, "malformed credentials", True)
    user, password = creds
    await auth.before(ip, user)
    try:
        found = await auth.password(user, password)
    except MailError as exc:
        if exc.kind is Kind.DISABLED:
            return Refusal(403, "account disabled", False)
        raise
    if found is None:
        await auth.failed(protocol, ip, user)
        return Refusal(401, "authentication failed", True)
    auth.succeeded(protocol, ip, found)
    return found
