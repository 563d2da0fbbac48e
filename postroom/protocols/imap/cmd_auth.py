"""Any-state and not-authenticated commands: CAPABILITY NOOP LOGOUT ID ENABLE STARTTLS LOGIN
AUTHENTICATE COMPRESS (RFC 9051 §6.1–6.2, RFC 2971, RFC 5161, RFC 4959, RFC 4978).

Passwords only travel encrypted unless the client's network is listed in
``server.plaintext_auth_networks`` (RFC 9051 §6.2.3 LOGINDISABLED; specs.md §0). Failures are
answered after the throttle's delay, never with a hint of which part was wrong, and a session
that fails ``max_auth_failures`` times is closed.
"""

from __future__ import annotations

import base64
import logging

from postroom import __version__
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.net.connection import LineTooLong
from postroom.protocols import sasl
from postroom.protocols.imap.session import (
    ANY,
    AUTH_ONLY,
    AUTHED,
    NOT_AUTH,
    AlreadyReplied,
    Bye,
    Reply,
    Session,
    State,
    command,
    no,
    ok,
)
from postroom.protocols.imap.wire import Command, ParseError, atom_of, expect_count, text_of

log = logging.getLogger("postroom.imap")

ENABLEABLE = {"CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2"}


@command("CAPABILITY", ANY)
async def capability(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 0)
    s.send(b"* CAPABILITY " + " ".join(s.capabilities()).encode())
    return ok("CAPABILITY completed")


@command("NOOP", ANY)
async def noop(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 0)
    return ok("NOOP completed")


@command("CHECK", frozenset({State.SELECTED}))
async def check(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 0)  # RFC 3501 §6.4.1: everything is already on disk
    return ok("CHECK completed")


@command("LOGOUT", ANY)
async def logout(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 0)
    s.send(b"* BYE Logging out")
    s.deselect()
    s.state = State.LOGOUT
    return ok("LOGOUT completed")


@command("ID", ANY)
async def id_(s: Session, cmd: Command) -> Reply:
    """RFC 2971 §3.3: at most 30 pairs, fields ≤ 30 octets, values ≤ 1024."""
    expect_count(cmd.args, 1)
    arg = cmd.args[0]
    if isinstance(arg, list):
        if len(arg) % 2 or len(arg) > 60:
            raise ParseError("ID takes up to 30 field/value pairs")
        for i in range(0, len(arg), 2):
            key = text_of(arg[i], "ID field")
            value = arg[i + 1]
            if len(key) > 30 or (isinstance(value, (bytes, str)) and len(value) > 1024):
                raise ParseError("ID field or value too long")
        fields = {text_of(arg[i], "ID field").lower(): arg[i + 1] for i in range(0, len(arg), 2)}
        log.info("client id", extra={"client": str(fields.get("name", ""))[:60]})
    elif not (isinstance(arg, str) and arg.upper() == "NIL"):
        raise ParseError("ID takes a list or NIL")
    s.send(b'* ID ("name" "Postroom" "version" "' + __version__.encode() + b'")')
    return ok("ID completed")


@command("ENABLE", AUTH_ONLY)
async def enable(s: Session, cmd: Command) -> Reply:
    """RFC 5161: report only what this command newly enabled; ignore unknown names."""
    if not cmd.args:
        raise ParseError("ENABLE needs at least one capability")
    newly = []
    for token in cmd.args:
        name = atom_of(token, "capability").upper()
        if name in ENABLEABLE and name not in s.enabled:
            s.enabled.add(name)
            newly.append(name)
            if name == "QRESYNC" and "CONDSTORE" not in s.enabled:
                s.enabled.add("CONDSTORE")  # RFC 7162 §3.2.3: QRESYNC implies CONDSTORE
    if s.enabled & {"CONDSTORE", "QRESYNC"}:
        s.condstore = True
    names = {"IMAP4REV2": "IMAP4rev2"}
    s.send(b"* ENABLED" + b"".join(b" " + names.get(n, n).encode() for n in newly))
    return ok("ENABLE completed")


@command("STARTTLS", NOT_AUTH)
async def starttls(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 0)
    if s.conn.tls:
        return Reply("BAD", "TLS is already active")
    ctx = s.settings.tls_context
    if ctx is None:
        return no("TLS is not configured")
    await s.conn.send(f"{cmd.tag} OK Begin TLS negotiation now\r\n".encode())
    # Everything buffered before the handshake is dropped by start_tls (specs.md §0).
    try:
        await s.conn.start_tls(ctx)
    except (TimeoutError, OSError) as exc:
        raise Bye(f"TLS negotiation failed: {exc}") from None
    s.out.clear()
    raise AlreadyReplied()


async def _finish_login(s: Session, principal: Principal | None, user: str) -> Reply:
    ip = s.conn.peer[0]
    auth = s.services.auth
    if principal is None:
        s.auth_failures += 1
        await auth.failed("imap", ip, user)
        if s.auth_failures >= s.settings.max_auth_failures:
            await s.conn.send(f"{s.tag} NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
                              .encode())
            raise Bye("Too many failed logins")
        return no("Authentication failed", "AUTHENTICATIONFAILED")
    auth.succeeded("imap", ip, principal)
    s.principal = principal
    s.state = State.AUTH
    caps = " ".join(s.capabilities())
    return ok("Logged in", f"CAPABILITY {caps}")


@command("LOGIN", NOT_AUTH)
async def login(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 2)
    if not s.plaintext_ok():
        return no("Use STARTTLS or port 993 before LOGIN", "PRIVACYREQUIRED")
    user = text_of(cmd.args[0], "user name")
    password = text_of(cmd.args[1], "password")
    await s.services.auth.before(s.conn.peer[0], user)
    try:
        principal = await s.services.auth.password(user, password)
    except MailError as exc:
        if exc.kind is Kind.DISABLED:
            return no("Account disabled", "CONTACTADMIN")
        raise
    return await _finish_login(s, principal, user)


@command("AUTHENTICATE", NOT_AUTH)
async def authenticate(s: Session, cmd: Command) -> Reply:
    """RFC 9051 §6.2.2 with SASL-IR (RFC 4959): ``+ b64`` challenges, ``*`` cancels."""
    expect_count(cmd.args, 1, 2)
    name = atom_of(cmd.args[0], "mechanism").upper()
    offered = s.mechanisms()
    if name not in offered:
        if name in ("PLAIN", "LOGIN"):
            return no("Use STARTTLS or port 993 first", "PRIVACYREQUIRED")
        return no(f"Unsupported mechanism {name[:40]}", "CANNOT")
    initial = text_of(cmd.args[1], "initial response") if len(cmd.args) == 2 else None
    await s.services.auth.before(s.conn.peer[0])

    async def challenge(data: bytes) -> None:
        await s.conn.send(b"+ " + base64.b64encode(data) + b"\r\n")

    try:
        outcome = await sasl.exchange(s.services.auth, s.conn, name, initial, challenge,
                                      offered=offered,
                                      channel_binding=s.settings.channel_binding,
                                      max_line=s.settings.max_line,
                                      hostname=s.settings.hostname)
    except MailError as exc:
        if exc.kind is Kind.DISABLED:
            return no("Account disabled", "CONTACTADMIN")
        raise
    except LineTooLong as exc:  # refused like a command line (protocols/sasl.py)
        await s.refuse_long_line()
        return Reply("BAD", f"Authentication failed: response line longer than {exc.limit} "
                            f"octets")
    if outcome.cancelled:
        return Reply("BAD", "Authentication cancelled")
    if outcome.error:
        return Reply("BAD", f"Authentication failed: {outcome.error}")
    return await _finish_login(s, outcome.principal, outcome.username)


@command("COMPRESS", AUTHED)
async def compress(s: Session, cmd: Command) -> Reply:
    """RFC 4978: raw DEFLATE both ways from the byte after this OK."""
    expect_count(cmd.args, 1)
    if atom_of(cmd.args[0], "algorithm").upper() != "DEFLATE":
        return no("Only DEFLATE is supported", "CANNOT")
    if s.compressed:
        return no("Compression is already active", "COMPRESSIONACTIVE")
    await s.announce_if_selected()
    await s.flush()
    await s.conn.send(f"{cmd.tag} OK DEFLATE active\r\n".encode())
    s.conn.start_compression()
    s.compressed = True
    raise AlreadyReplied()
