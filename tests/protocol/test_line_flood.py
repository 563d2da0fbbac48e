"""Security regression, log flooding: more than 1 MiB of one line, on every listener and in
every place a line is read (commands, SASL responses, an IMAP literal's continuation, IDLE,
after STARTTLS, behind a PROXY header), gets the protocol's own error reply, then the
protocol's goodbye where it has one, then a close; the server logs it in one warning line
naming the service, the client address and the limit, and never a traceback.

The rule itself (net/connection.py): a line past its limit is refused at once; if it ends
within ``SALVAGE`` times the limit the session carries on (a client's mistake, answered like
any other bad command and not logged); if not, it is a flood and the session ends. Each case
here floods with ``FLOOD`` octets, more than ``SALVAGE`` times every line limit in play
(SMTP 4,096; SMTP AUTH 12,288, RFC 4954 §4; IMAP and POP3 ``limits.max_line_length``,
64 KiB by default), once without a line end and once with one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from postroom.mta.atrn import AtrnError, Provider
from postroom.net.connection import SALVAGE
from postroom.protocols.sasl import SMTP_MAX_RESPONSE
from postroom.protocols.smtp import odmr
from postroom.protocols.smtp.wire import MAX_COMMAND_LINE
from tests.support.logs import Logged, ServerLog, server_log
from tests.support.server import RunningServer, server_config
from tests.support.tls import insecure_context

LINE = 65536  # limits.max_line_length (the default)
FLOOD = LINE * SALVAGE + 4096
PROXIED = "127.0.0.2"  # the load balancer: connections from it must start with PROXY

SMTP_LABELS = ["smtp", "submission", "submissions", "odmr"]
IMAP_LABELS = ["imap", "imaps"]
POP3_LABELS = ["pop3", "pop3s"]
IMPLICIT_TLS = {"submissions", "imaps", "pop3s"}

SMTP_BYE = b"421 4.7.0 mail.example.test Line too long, closing\r\n"
IMAP_BYE = (b"* BAD [TOOBIG] Command line too long\r\n"
            b"* BYE [TOOBIG] Line too long, closing\r\n")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("flood")
    server = RunningServer(server_config(data, extra=[
        "smtp.mx.enabled=true", "smtp.mx.port=0", "smtp.submission.enabled=true",
        "smtp.submission.port=0", "smtp.submissions.enabled=true", "smtp.submissions.port=0",
        "pop3.pop3.enabled=true", "pop3.pop3.port=0", "pop3.pop3s.enabled=true",
        "pop3.pop3s.port=0", "odmr.enabled=true", "odmr.port=0", "odmr.auth_without_tls=true",
        'server.plaintext_auth_networks=["127.0.0.1/32"]', "limits.auth_failures_per_ip=1000",
        f'server.proxy_protocol_networks=["{PROXIED}/32"]', "multipop.enabled=false",
        f"limits.max_line_length={LINE}", 'smtp.outbound.dns_servers=["127.0.0.1:9"]']))
    yield server
    server.stop()


@pytest.fixture
def logs() -> Iterator[ServerLog]:
    with server_log() as handler:
        yield handler


class Raw:
    """Bytes in, bytes out, over a socket that the server may cut off in mid-send."""

    def __init__(self, port: int, tls: bool = False, source: str = "127.0.0.1",
                 proxy: bytes = b"") -> None:
        self.sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=20,
                                                            source_address=(source, 0))
        if proxy:
            self.sock.sendall(proxy)
        if tls:
            self.starttls()
        self.buf = b""

    def starttls(self) -> None:
        self.sock = insecure_context().wrap_socket(self.sock, server_hostname="mail.example.test")

    def until(self, start: bytes) -> bytes:
        """Everything through the first line that begins with ``start``."""
        while True:
            at = 0 if self.buf.startswith(start) else self.buf.find(b"\r\n" + start) + 2
            if at >= 2 or self.buf.startswith(start):
                end = self.buf.find(b"\r\n", at)
                if end >= 0:
                    got, self.buf = self.buf[:end + 2], self.buf[end + 2:]
                    return got
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed while waiting for {start!r}: {self.buf[-300:]!r}")
            self.buf += chunk

    def say(self, data: bytes, start: bytes) -> bytes:
        self.sock.sendall(data)
        return self.until(start)

    def flood(self, data: bytes) -> bytes:
        """Send ``data`` (the server may close before taking all of it), then return what the
        server says until it closes; the test fails if it never does."""
        # Cut off in mid-send: what it answered before is still readable.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.sock.sendall(data)
        return self.rest()

    def rest(self) -> bytes:
        got, self.buf = self.buf, b""
        try:
            while chunk := self.sock.recv(65536):
                got += chunk
        except (ConnectionResetError, ssl.SSLError):
            pass  # closed with our unread flood in its buffer: a reset after the replies
        return got

    def close(self) -> None:
        self.sock.close()


def greet(srv: RunningServer, label: str, **kw: object) -> Raw:
    c = Raw(srv.port(label), tls=label in IMPLICIT_TLS, **kw)  # type: ignore[arg-type]
    c.until({"imap": b"* OK", "pop3": b"+OK"}.get(label.rstrip("s"), b"220 "))
    return c


def one_warning(logs: ServerLog, mark: int, service: str, limit: int,
                ip: str = "127.0.0.1", also: frozenset[str] = frozenset()) -> Logged:
    """The connection logged exactly one line about the flood (``also``: other messages
    expected at INFO and above, such as a login), and no traceback at any level."""
    entries = logs.since(mark)
    for entry in entries:
        assert entry.record.exc_info is None and "Traceback" not in entry.text, entry.text
    notable = [e for e in entries if e.record.levelno >= logging.INFO
               and e.record.getMessage() not in also]
    assert len(notable) == 1, [e.text for e in notable]
    found = notable[0]
    rec = found.record
    assert (rec.levelno, rec.getMessage()) == (logging.WARNING,
                                               "line too long: connection closed")
    assert (rec.__dict__["service"], rec.__dict__["ip"], rec.__dict__["limit"]) == \
        (service, ip, limit)
    assert len({e.conn for e in entries}) == 1  # all of it written for that one connection
    return found


def quiet(logs: ServerLog, mark: int) -> None:
    """Nothing at INFO or above, no traceback at any level."""
    entries = logs.since(mark)
    assert all(e.record.exc_info is None and "Traceback" not in e.text for e in entries)
    assert [e.text for e in entries if e.record.levelno >= logging.INFO] == []


# -- a command line --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    labels: list[str]
    reply: bytes  # everything the server says after the flood, up to the close
    limit: int


FAMILIES = {
    "smtp": Family(SMTP_LABELS, b"500 5.5.6 Command line too long\r\n" + SMTP_BYE,
                   MAX_COMMAND_LINE),
    "imap": Family(IMAP_LABELS, IMAP_BYE, LINE),
    "pop3": Family(POP3_LABELS, b"-ERR Line too long\r\n", LINE),
}
COMMAND_CASES = [(family, label, end) for family, spec in FAMILIES.items()
                 for label in spec.labels for end in (b"", b"\r\n")]


@pytest.mark.parametrize(("family", "label", "end"), COMMAND_CASES,
                         ids=[f"{lb}-{'crlf' if e else 'no-eol'}" for _, lb, e in COMMAND_CASES])
def test_command_line_flood_is_refused_closed_and_logged_once(
        srv: RunningServer, logs: ServerLog, family: str, label: str, end: bytes) -> None:
    spec = FAMILIES[family]
    mark = logs.mark()
    c = greet(srv, label)
    assert c.flood(b"A" * FLOOD + end) == spec.reply
    c.close()
    one_warning(logs, mark, label, spec.limit)


# -- inside a SASL exchange ------------------------------------------------------------------------
SASL_CASES = [
    ("submission", b"EHLO x\r\n", b"250 ", b"AUTH PLAIN\r\n", b"334 "),
    ("submissions", b"EHLO x\r\n", b"250 ", b"AUTH PLAIN\r\n", b"334 "),
    ("odmr", b"EHLO x\r\n", b"250 ", b"AUTH CRAM-MD5\r\n", b"334 "),
    ("imap", b"", b"", b"A1 AUTHENTICATE PLAIN\r\n", b"+ "),
    ("imaps", b"", b"", b"A1 AUTHENTICATE PLAIN\r\n", b"+ "),
    ("pop3", b"", b"", b"AUTH PLAIN\r\n", b"+ "),
    ("pop3s", b"", b"", b"AUTH PLAIN\r\n", b"+ "),
]
SASL_REPLY = {
    "smtp": b"500 5.5.6 Authentication Exchange line is too long\r\n" + SMTP_BYE,  # RFC 4954 §6
    "imap": IMAP_BYE,
    "pop3": b"-ERR [AUTH] Authentication failed: response line longer than 65536 octets\r\n",
}


@pytest.mark.parametrize(("label", "hello", "hello_end", "auth", "challenge"), SASL_CASES,
                         ids=[c[0] for c in SASL_CASES])
def test_sasl_response_flood(srv: RunningServer, logs: ServerLog, label: str, hello: bytes,
                             hello_end: bytes, auth: bytes, challenge: bytes) -> None:
    mark = logs.mark()
    c = greet(srv, label)
    if hello:
        c.say(hello, hello_end)
    c.say(auth, challenge)
    family = "smtp" if label in SMTP_LABELS else label.rstrip("s")
    assert c.flood(b"A" * FLOOD) == SASL_REPLY[family]
    c.close()
    one_warning(logs, mark, label,
                SMTP_MAX_RESPONSE if family == "smtp" else LINE)


def test_sasl_response_flood_after_starttls_on_mx(srv: RunningServer, logs: ServerLog) -> None:
    """Port 25 offers AUTH only inside TLS: the same, after STARTTLS."""
    mark = logs.mark()
    c = greet(srv, "smtp")
    c.say(b"EHLO x\r\n", b"250 ")
    c.say(b"STARTTLS\r\n", b"220 ")
    c.starttls()
    assert b"AUTH " in c.say(b"EHLO x\r\n", b"250 ")
    c.say(b"AUTH PLAIN\r\n", b"334 ")
    assert c.flood(b"A" * FLOOD) == SASL_REPLY["smtp"]
    c.close()
    one_warning(logs, mark, "smtp", SMTP_MAX_RESPONSE)


# -- IMAP: a literal's continuation line, and IDLE -------------------------------------------------
@pytest.mark.parametrize("label", IMAP_LABELS)
def test_imap_continuation_after_literal_flood(srv: RunningServer, logs: ServerLog,
                                               label: str) -> None:
    mark = logs.mark()
    c = greet(srv, label)
    c.say(b"A1 LOGIN {5}\r\n", b"+ ")
    assert c.flood(b"abcde" + b"A" * FLOOD) == IMAP_BYE
    c.close()
    one_warning(logs, mark, label, LINE)


@pytest.mark.parametrize("label", IMAP_LABELS)
def test_imap_idle_flood(srv: RunningServer, logs: ServerLog, label: str) -> None:
    user, password = srv.add_user()
    mark = logs.mark()
    c = greet(srv, label)
    c.say(f'A1 LOGIN "{user}" "{password}"\r\n'.encode(), b"A1 OK")
    c.say(b"A2 IDLE\r\n", b"+ ")
    assert c.flood(b"A" * FLOOD) == IMAP_BYE
    c.close()
    one_warning(logs, mark, label, LINE, also=frozenset({"login"}))


# -- SMTP: DATA and BDAT carry content, not command lines ------------------------------------------
def test_smtp_long_line_in_data_is_content(srv: RunningServer, logs: ServerLog) -> None:
    """RFC 5321 §4.5.3.1: no limit on a line of message text is the aim; a body line of more
    than 1 MiB is streamed through (never held whole) and the message accepted."""
    user, _ = srv.add_user()
    c = greet(srv, "smtp")
    c.say(b"EHLO x\r\n", b"250 ")
    c.say(b"MAIL FROM:<a@example.org>\r\n", b"250 ")
    c.say(f"RCPT TO:<{user}>\r\n".encode(), b"250 ")
    c.say(b"DATA\r\n", b"354 ")
    assert c.say(b"Subject: long\r\n\r\n" + b"A" * FLOOD + b"\r\n.\r\n", b"250 ")
    mark = logs.mark()
    c.say(b"BDAT 0\r\n", b"503 ")  # the session goes on: one more command, answered
    c.close()
    assert [e for e in logs.since(mark) if e.record.levelno >= logging.WARNING] == []


def test_smtp_bdat_chunk_is_no_line_but_the_next_command_is(srv: RunningServer,
                                                          logs: ServerLog) -> None:
    """BDAT octets are not lines (RFC 3030 §2: any length, no line end needed); the command
    line after them is one."""
    user, _ = srv.add_user()
    mark = logs.mark()
    c = greet(srv, "smtp")
    c.say(b"EHLO x\r\n", b"250 ")
    c.say(b"MAIL FROM:<a@example.org>\r\n", b"250 ")
    c.say(f"RCPT TO:<{user}>\r\n".encode(), b"250 ")
    chunk = b"Subject: chunked\r\n\r\n" + b"B" * FLOOD
    assert c.say(b"BDAT %d\r\n" % len(chunk) + chunk, b"250 ") == \
        b"250 2.0.0 %d octets received\r\n" % len(chunk)
    assert c.flood(b"A" * FLOOD) == FAMILIES["smtp"].reply
    c.close()
    one_warning(logs, mark, "smtp", MAX_COMMAND_LINE)


# -- a line that straddles the limit: refused, skipped, the session goes on ------------------------
STRADDLE = [
    ("smtp", b"NOOP ", b"250 2.0.0 OK\r\n", b"500 5.5.6 Command line too long\r\n",
     b"QUIT\r\n", b"221 ", MAX_COMMAND_LINE),
    ("imap", b"A1 NOOP ", b"A1 BAD wrong number of arguments\r\n",
     b"* BAD [TOOBIG] Command line too long\r\n", b"A2 LOGOUT\r\n", b"A2 OK", LINE),
    ("pop3", b"NOOP ", b"-ERR NOOP is not valid in the authorization state\r\n",
     b"-ERR Line too long\r\n", b"QUIT\r\n", b"+OK", LINE),
]


@pytest.mark.parametrize(("label", "verb", "taken", "refusal", "then", "done", "limit"),
                         STRADDLE, ids=[c[0] for c in STRADDLE])
def test_line_straddling_the_limit(srv: RunningServer, logs: ServerLog, label: str,
                                   verb: bytes, taken: bytes, refusal: bytes, then: bytes,
                                   done: bytes, limit: int) -> None:
    """A line of exactly the limit (its CRLF included) is a command; one octet more is
    refused; one of exactly ``SALVAGE`` times the limit is still skipped, and the session
    goes on without a log line; one octet more is a flood."""
    mark = logs.mark()
    c = greet(srv, label)
    exact = verb + b"x" * (limit - len(verb) - 2) + b"\r\n"
    assert c.say(exact, b"") == taken  # parsed and answered as the command it is
    c.sock.sendall(exact[:-2] + b"y\r\n")
    assert c.until(refusal[:4]) == refusal
    c.sock.sendall(verb + b"x" * (limit * SALVAGE - len(verb) - 2) + b"\r\n")
    assert c.until(refusal[:4]) == refusal
    c.say(then, done)
    assert c.rest() == b""  # closed after QUIT or LOGOUT
    c.close()
    quiet(logs, mark)
    mark = logs.mark()
    c = greet(srv, label)
    assert c.flood(verb + b"x" * (limit * SALVAGE - len(verb) - 1) + b"\r\n").startswith(
        refusal)
    c.close()
    one_warning(logs, mark, label, limit)


# -- before the protocol starts: the PROXY header, the TLS handshake -------------------------------
def test_proxy_header_flood(srv: RunningServer, logs: ServerLog) -> None:
    """Nothing to answer before the protocol starts: closed, one warning (proxy.py bounds a
    v1 header to 107 octets)."""
    mark = logs.mark()
    c = Raw(srv.port("smtp"), source=PROXIED)
    assert c.flood(b"PROXY TCP4 " + b"A" * FLOOD) == b""
    c.close()
    entries = logs.since(mark)
    assert all(e.record.exc_info is None for e in entries)
    notable = [e.record for e in entries if e.record.levelno >= logging.INFO]
    assert [(r.getMessage(), r.__dict__["service"], r.__dict__["ip"]) for r in notable] == \
        [("bad PROXY header", "smtp", PROXIED)]
    assert "107" in notable[0].__dict__["error"]


@pytest.mark.parametrize("label", ["smtp", "imap", "pop3"])
def test_flood_behind_a_proxy_header_names_the_real_client(srv: RunningServer,
                                                           logs: ServerLog, label: str) -> None:
    mark = logs.mark()
    c = greet(srv, label, source=PROXIED, proxy=b"PROXY TCP4 203.0.113.9 127.0.0.1 5555 25\r\n")
    assert c.flood(b"A" * FLOOD) == FAMILIES[label].reply
    c.close()
    one_warning(logs, mark, label, FAMILIES[label].limit, ip="203.0.113.9")


@pytest.mark.parametrize("label", sorted(IMPLICIT_TLS))
def test_flood_instead_of_a_tls_handshake(srv: RunningServer, logs: ServerLog,
                                          label: str) -> None:
    """Not TLS at all: the handshake fails, the connection closes, nothing is logged."""
    mark = logs.mark()
    c = Raw(srv.port(label))
    assert c.flood(b"A" * FLOOD) == b""
    c.close()
    quiet(logs, mark)


# -- ODMR's customer side: the provider floods the session we serve after ATRN ------------------
def test_odmr_customer_side_flood_is_a_failed_collection(srv: RunningServer,
                                                         logs: ServerLog) -> None:
    """``postroom atrn`` turns into the SMTP server on its own outbound connection (RFC 2645
    §4); a provider that floods it gets 500 and 421, and the collection fails with a reason
    instead of a traceback."""
    heard: list[bytes] = []
    done: list[asyncio.Event] = []

    async def provider(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 provider.test ESMTP\r\n")
        for answer in (b"250-provider.test\r\n250-AUTH CRAM-MD5\r\n250 ATRN\r\n",
                       b"334 " + base64.b64encode(b"<1.2@provider.test>") + b"\r\n",
                       b"235 2.7.0 ok\r\n", b"250 2.0.0 OK now reversing the connection\r\n"):
            await reader.readline()
            writer.write(answer)
        heard.append(await reader.readline())  # our greeting: we are the server now
        writer.write(b"A" * FLOOD)
        said = b""
        with contextlib.suppress(ConnectionResetError):  # closed with our flood unread
            while chunk := await reader.read(65536):
                said += chunk
        heard.append(said)
        writer.close()
        done[0].set()

    async def collect_once() -> tuple[int, str]:
        done.append(asyncio.Event())
        server = await asyncio.start_server(provider, "127.0.0.1", 0)
        port = int(server.sockets[0].getsockname()[1])
        try:
            await odmr.collect(srv.services.front, Provider(
                "127.0.0.1", port, "none", False, "user", "secret", ["gw.test"]),
                "mail.example.test", 100_000, timeout=10)
        except AtrnError as exc:
            await asyncio.wait_for(done[0].wait(), 10)  # the provider has heard it all
            return port, str(exc)
        finally:
            server.close()
        return port, "collected"

    mark = logs.mark()
    port, outcome = srv.call(collect_once())
    assert outcome == f"127.0.0.1:{port} sent a line longer than {MAX_COMMAND_LINE} octets"
    assert heard[0].startswith(b"220 mail.example.test ESMTP")
    assert heard[1] == b"500 5.5.6 Command line too long\r\n" + SMTP_BYE
    assert all(e.record.exc_info is None for e in logs.since(mark))
