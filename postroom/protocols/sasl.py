"""One SASL exchange (RFC 4422 §3) for every front-end: IMAP, SMTP (and ODMR), POP3.

Each protocol frames challenges its own way (IMAP and POP3 ``+ base64``, SMTP ``334 base64``)
and hands that in as ``challenge``; everything else is the same everywhere: base64 on both
sides, ``*`` cancels, server-final data (SCRAM's ``v=``) goes out as one more challenge
answered by an empty line (RFC 4422 §5), and channel binding wherever TLS is up and the
certificate's binding data is known (RFC 5929 §4).

An over-long response raises ``LineTooLong`` out of the exchange, its tail still unread: the
front-end refuses it in its own words at once (SMTP's 500 5.5.6, RFC 4954 §6) and skips the
rest exactly as for an over-long command line (``Connection.skip_line``; a flood ends the
session). How long is too long is the front-end's line limit (``limits.max_line_length`` for
IMAP and POP3; RFC 4954 §4's 12,288 octets for SMTP AUTH).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from postroom.core.principal import Principal
from postroom.directory.sasl import SaslError, Verdict
from postroom.net.connection import Connection
from postroom.services.auth import AuthService

SMTP_MAX_RESPONSE = 12288  # octets of one AUTH response line in SMTP (RFC 4954 §4)
RESPONSE_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an exchange ended: a principal (None: the credentials were wrong), a cancel by
    the client, or a protocol error (``error``: bad base64, broken mechanism syntax)."""

    principal: Principal | None
    username: str = ""
    cancelled: bool = False
    error: str = ""


def decode(text: bytes | str) -> bytes:
    """A client response: base64, ``=`` for an empty initial response (RFC 4954 §4)."""
    raw = text.strip().encode() if isinstance(text, str) else text.strip()
    if raw == b"=":
        return b""
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise SaslError("invalid base64") from None


async def read_response(conn: Connection, limit: int,
                        timeout: float = RESPONSE_TIMEOUT) -> bytes:
    """One response line, without its CRLF; LineTooLong passes through (see above)."""
    line = await conn.readline(limit, timeout)
    return line.rstrip(b"\r\n")


async def exchange(auth: AuthService, conn: Connection, name: str, initial: str | None,
                   challenge: Callable[[bytes], Awaitable[None]], *, offered: list[str],
                   channel_binding: bytes | None, max_line: int,
                   hostname: str = "localhost") -> Outcome:
    """Run mechanism ``name`` to its end. ``initial`` is the initial response as sent (SASL-IR,
    RFC 4959), or None; ``offered`` is what the client was shown (a SCRAM client that saw no
    ``-PLUS`` may not be taken for a downgrade, RFC 5802 §6). ``MailError`` (a disabled
    account) and ``LineTooLong`` (an over-long response) pass through."""
    binding = channel_binding if conn.tls else None
    mech = auth.mechanism(name, channel_binding=binding,
                          plus_offered="SCRAM-SHA-256-PLUS" in offered, hostname=hostname)
    try:
        step = await mech.step(decode(initial) if initial is not None else None)
        while not isinstance(step, Verdict):
            await challenge(step)
            line = await read_response(conn, max_line)
            if line == b"*":
                return Outcome(None, cancelled=True)
            step = await mech.step(decode(line))
        if step.final is not None and step.principal is not None:
            await challenge(step.final)
            if await read_response(conn, max_line) == b"*":
                return Outcome(None, step.username, cancelled=True)
    except SaslError as exc:
        return Outcome(None, error=str(exc))
    return Outcome(step.principal, step.username)
