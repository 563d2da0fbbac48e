"""Session commands: CAPABILITY NOOP LOGOUT STARTTLS AUTHENTICATE UNAUTHENTICATE
(RFC 5804 §2.1–2.4, §2.13, §2.14).

SASL runs here rather than through protocols/sasl.py's shared exchange because ManageSieve
frames it its own way (RFC 5804 §2.1): challenges are strings (quoted or literal) on a line of
their own, responses are strings too (``"*"`` cancels), and server-final data (SCRAM's ``v=``)
travels in the success response as ``OK (SASL "...")`` instead of one more challenge. The
mechanisms themselves, the throttle and the failure log are the shared ones
(services/auth.py), so a ManageSieve login is judged exactly like an IMAP one.
"""

from __future__ import annotations

import base64

from postroom.core.principal import Principal
from postroom.directory.sasl import SaslError, Verdict
from postroom.net.connection import ConnectionClosed, LineTooLong
from postroom.protocols import sasl
from postroom.protocols.managesieve.session import (
    ANY,
    AUTHED,
    NOT_AUTH,
    PREAUTH_LITERAL,
    PROTOCOL,
    AlreadyReplied,
    Bye,
    Reply,
    Session,
    State,
    command,
    expect,
    no,
    ok,
)
from postroom.protocols.managesieve.wire import (
    Atom,
    Command,
    WireError,
    literal_at_end,
    parse_args,
    response,
    string_of,
    string_out,
    text_of,
)

RESPONSE_TIMEOUT = sasl.RESPONSE_TIMEOUT  # how long a client may think between SASL steps


@command("CAPABILITY", ANY)
async def capability(s: Session, cmd: Command) -> Reply:
    """RFC 5804 §2.4."""
    expect(cmd, 0)
    s.send_capabilities()
    return ok("Capability completed")


@command("NOOP", ANY)
async def noop(s: Session, cmd: Command) -> Reply:
    """RFC 5804 §2.13: the optional string comes back in a TAG response code, which is how
    clients find the end of the capabilities re-issued after STARTTLS."""
    expect(cmd, 0, 1)
    if cmd.args:
        return ok("Done", b"TAG " + string_out(string_of(cmd.args[0], "tag")))
    return ok("Done")


@command("LOGOUT", ANY)
async def logout(s: Session, cmd: Command) -> Reply:
    """RFC 5804 §2.3 (erratum 7825: the answer is OK); the connection closes after it."""
    expect(cmd, 0)
    s.state = State.LOGOUT
    return ok("Logout completed")


@command("STARTTLS", NOT_AUTH)
async def starttls(s: Session, cmd: Command) -> Reply:
    """RFC 5804 §2.2: TLS, then the capabilities again (SASL may now offer more), unasked.
    Whatever the client sent after STARTTLS in the clear is dropped with the handshake
    (net/connection.py ``start_tls``)."""
    expect(cmd, 0)
    if s.conn.tls:
        return no("TLS is already active")
    ctx = s.settings.tls_context
    if ctx is None:
        return no("TLS is not available here")
    await s.conn.send(response("OK", "Begin TLS negotiation now"))
    try:
        await s.conn.start_tls(ctx)
    except (TimeoutError, OSError):
        raise ConnectionClosed() from None  # nothing readable can be said any more
    s.out.clear()
    s.send_capabilities()
    s.out.append(response("OK", "TLS negotiation successful"))
    await s.flush()
    raise AlreadyReplied()


@command("UNAUTHENTICATE", AUTHED)
async def unauthenticate(s: Session, cmd: Command) -> Reply:
    """RFC 5804 §2.14.1: back to the non-authenticated state; TLS stays."""
    expect(cmd, 0)
    s.principal = None
    s.state = State.NOT_AUTH
    return ok("Unauthenticate completed")


@command("AUTHENTICATE", NOT_AUTH)
async def authenticate(s: Session, cmd: Command) -> Reply:
    """RFC 5804 §2.1: ``AUTHENTICATE mechanism [initial-response]``."""
    expect(cmd, 1, 2)
    name = _mechanism(cmd.args[0])
    offered = s.mechanisms()
    if name not in offered:
        if name in ("PLAIN", "LOGIN") and not s.plaintext_ok():
            return no("Passwords only inside TLS: use STARTTLS first", b"ENCRYPT-NEEDED")
        return no(f"Unsupported mechanism {name[:40]}")
    initial = string_of(cmd.args[1], "initial response") if len(cmd.args) == 2 else None
    auth = s.services.auth
    await auth.before(s.conn.peer[0])
    binding = s.settings.channel_binding if s.conn.tls else None
    mech = auth.mechanism(name, channel_binding=binding,
                          plus_offered="SCRAM-SHA-256-PLUS" in offered,
                          hostname=s.settings.hostname)
    try:
        step = await mech.step(sasl.decode(initial) if initial is not None else None)
        while not isinstance(step, Verdict):
            await s.conn.send(string_out(base64.b64encode(step)) + b"\r\n")
            data = await _response(s)
            if data is None:
                return no("Authentication cancelled")
            step = await mech.step(sasl.decode(data))
    except SaslError as exc:
        return no(f"Authentication failed: {exc}")
    except LineTooLong:
        await s.refuse_long_line()  # its NO is this command's answer
        raise AlreadyReplied() from None
    return await _finish(s, step.principal, step.username, step.final)


def _mechanism(arg: Atom | bytes) -> str:
    """RFC 5804 §2.1: ``auth-type = string``; a bare atom is taken too (lenient)."""
    name = arg if isinstance(arg, Atom) else text_of(arg, "mechanism")
    if not name or len(name) > 40 or not all(c.isalnum() or c in "-_" for c in name):
        raise WireError("Invalid SASL mechanism name")
    return name.upper()


async def _response(s: Session) -> bytes | None:
    """One client response: a string, quoted or a literal (RFC 5804 §2.1); None when the
    client cancels with ``"*"``. LineTooLong passes through, the line's tail unread."""
    conn, limit = s.conn, s.settings.max_line
    raw = await conn.readline(limit, RESPONSE_TIMEOUT)
    mark = literal_at_end(raw)
    if mark is not None:
        if mark.size > PREAUTH_LITERAL:
            raise Bye(f"SASL response too big (at most {PREAUTH_LITERAL} octets)")
        raw += await conn.readexactly(mark.size, RESPONSE_TIMEOUT)
        raw += await conn.readline(limit, RESPONSE_TIMEOUT)
    try:
        args = parse_args(raw)
    except WireError as exc:
        raise SaslError(f"response is not a string: {exc}") from None
    if len(args) != 1:
        raise SaslError("expected one string")
    value = args[0]
    if value in ("*", b"*"):
        return None
    if isinstance(value, Atom):
        raise SaslError("the response must be a string (quoted or literal)")
    return value


async def _finish(s: Session, principal: Principal | None, username: str,
                  final: bytes | None) -> Reply:
    """End of every authentication: the throttle, the log line, the state change."""
    ip = s.conn.peer[0]
    auth = s.services.auth
    if principal is None:
        s.auth_failures += 1
        await auth.failed(PROTOCOL, ip, username)
        if s.auth_failures >= s.settings.max_auth_failures:
            await s.conn.send(response("NO", "Authentication failed"))
            raise Bye("Too many failed logins")
        return no("Authentication failed")
    auth.succeeded(PROTOCOL, ip, principal)
    s.principal = principal
    s.state = State.AUTH
    if final is not None:  # RFC 5804 §2.1: server-final data in the SASL response code
        return ok("Logged in", b"SASL " + string_out(base64.b64encode(final)))
    return ok("Logged in")
