"""The outbound parts at their lowest layer: MX routing against a real (dnslib) DNS server,
the DSN builder, DATA dot-stuffing, the header capture and the DSN parameter checks."""

from __future__ import annotations

import email
import io
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.mta import dsn
from postroom.mta.client import Reply, dot_stuffed
from postroom.net.dns import MxHost, RouteError, Router, make_resolver
from postroom.protocols.smtp.wire import (
    DataDecoder,
    HeaderCapture,
    SmtpSyntaxError,
    check_notify,
    check_orcpt,
    check_xtext,
)
from tests.support.mailhost import Dns


@pytest.fixture(scope="module")
def dns_server() -> Iterator[Dns]:
    server = Dns()
    z = server.zone
    z.add("multi.test", "MX", "20 b.multi.test.")
    z.add("multi.test", "MX", "10 a.multi.test.")
    z.add("a.multi.test", "A", "192.0.2.1")
    z.add("a.multi.test", "AAAA", "2001:db8::1")
    z.add("b.multi.test", "A", "192.0.2.2")
    z.add("implicit.test", "A", "192.0.2.3")
    z.add("nullmx.test", "MX", "0 .")
    z.add("dangling.test", "MX", "10 nowhere.dangling.test.")
    z.add("nomx-noaddr.test", "TXT", '"v=spf1 -all"')
    yield server
    server.stop()


async def test_mx_order_addresses_and_implicit_mx(dns_server: Dns) -> None:
    router = Router(make_resolver([f"127.0.0.1:{dns_server.port}"], timeout=3))
    assert await router.route("multi.test") == [
        MxHost("a.multi.test", ("192.0.2.1", "2001:db8::1")),
        MxHost("b.multi.test", ("192.0.2.2",))]
    assert await router.route("IMPLICIT.test") == [MxHost("implicit.test", ("192.0.2.3",))]
    assert await router.route("[192.0.2.9]") == [MxHost("192.0.2.9", ("192.0.2.9",))]
    assert await router.route("[IPv6:2001:db8::9]") == [MxHost("2001:db8::9", ("2001:db8::9",))]


@pytest.mark.parametrize(("domain", "temporary", "enhanced"), [
    ("nullmx.test", False, "5.1.10"),  # RFC 7505
    ("missing.test", False, "5.1.2"),  # NXDOMAIN
    ("dangling.test", False, "5.4.4"),  # MX present: never fall back to the domain's address
    ("nomx-noaddr.test", False, "5.1.2"),
])
async def test_route_failures(dns_server: Dns, domain: str, temporary: bool,
                              enhanced: str) -> None:
    router = Router(make_resolver([f"127.0.0.1:{dns_server.port}"], timeout=3))
    with pytest.raises(RouteError) as err:
        await router.route(domain)
    assert (err.value.temporary, err.value.enhanced) == (temporary, enhanced)


async def test_unreachable_resolver_is_temporary() -> None:
    router = Router(make_resolver(["127.0.0.1:9"], timeout=1))
    with pytest.raises(RouteError) as err:
        await router.route("anything.test")
    assert err.value.temporary and err.value.enhanced == "4.4.3"


def test_dsn_is_a_valid_multipart_report() -> None:
    original = b"Subject: hi\r\nFrom: a@example.test\r\n\r\nbody\r\n"
    data = dsn.build(reporting_mta="mx.example.test", postmaster="postmaster@example.test",
                     to="a@example.test", statuses=[
                         dsn.RecipientStatus("x@far.test", "failed", "5.1.1",
                                             "550 5.1.1 No such user", "mx.far.test",
                                             "rfc822;X+2Bsub@far.test")],
                     original=io.BytesIO(original), original_size=len(original), arrival=0,
                     envid="env+2B1")
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    msg = email.message_from_bytes(data)
    assert msg.get_content_type() == "multipart/report"
    assert msg["Auto-Submitted"] == "auto-replied"
    human, status, returned = msg.get_payload()  # type: ignore[misc]
    assert "x@far.test" in str(human) and "550 5.1.1" in str(human)
    text = str(status)
    for line in ("Reporting-MTA: dns; mx.example.test", "Original-Envelope-Id: env+1",
                 "Original-Recipient: rfc822; X+sub@far.test",
                 "Final-Recipient: rfc822; x@far.test", "Action: failed", "Status: 5.1.1",
                 "Remote-MTA: dns; mx.far.test", "Diagnostic-Code: smtp; 550 5.1.1 No such user"):
        assert line in text
    assert returned.get_content_type() == "message/rfc822"
    headers_only = dsn.build(reporting_mta="m", postmaster="p@m", to="a@m", statuses=[
        dsn.RecipientStatus("x@y", "delayed", "4.4.1")], original=io.BytesIO(original),
        original_size=len(original), arrival=0, ret="HDRS", retry_until=99)
    msg = email.message_from_bytes(headers_only)
    part = msg.get_payload()[2]  # type: ignore[index]
    assert part.get_content_type() == "text/rfc822-headers" and "body" not in str(part)
    assert "Will-Retry-Until:" in str(msg.get_payload()[1])  # type: ignore[index]


def test_dot_stuffing() -> None:
    src = io.BufferedReader(io.BytesIO(b".a\r\nb\r\n..c\r\n.\r\nno-final-crlf"))  # type: ignore[arg-type]
    assert b"".join(dot_stuffed(src)) == b"..a\r\nb\r\n...c\r\n..\r\nno-final-crlf\r\n.\r\n"


def test_reply_enhanced_code() -> None:
    assert Reply(550, ("5.1.1 nope",)).enhanced == "5.1.1"
    assert Reply(451, ("try later",)).enhanced == "4.0.0"
    assert Reply(250, ("ok",)).ok and Reply(421, ("x",)).temporary


def test_header_capture_across_chunks() -> None:
    cap = HeaderCapture()
    for piece in (b"Received: a\r\n", b"Recei", b"ved: b\r\nFrom: x@y\r", b"\n\r",
                  b"\nReceived: in body\r\n"):
        cap.feed(piece)
    assert cap.done and cap.count(b"received") == 2
    empty = HeaderCapture()
    empty.feed(b"\r\nReceived: body\r\n")
    assert empty.done and empty.count(b"Received") == 0


def test_dsn_parameter_checks() -> None:
    assert check_notify("success,delay") == "SUCCESS,DELAY"
    assert check_notify("NEVER") == "NEVER"
    assert check_orcpt("RFC822;a+40b") == "rfc822;a+40b"
    assert check_xtext("abc+2B", "ENVID") == "abc+2B"
    for bad in (lambda: check_notify("NEVER,DELAY"), lambda: check_notify("DELAY,DELAY"),
                lambda: check_orcpt(";x"), lambda: check_xtext("a b", "ENVID"),
                lambda: check_xtext("a+2", "ENVID"), lambda: check_xtext("x" * 101, "E", 100)):
        with pytest.raises(SmtpSyntaxError):
            bad()


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b"..", b" ", b"x" * 70]),
                max_size=60))
def test_outbound_data_never_carries_a_bare_cr_or_lf(parts: list[bytes]) -> None:
    """BDAT smuggling, second half: whatever a stored message holds, what we write in DATA
    has only CRLF line ends, so the next server cannot find an end of data we did not mean;
    and our own DATA decoder reads back the message with its line ends made CRLF."""
    from postroom.mta.client import canonical_lines

    stored = b"".join(parts)
    wire = b"".join(dot_stuffed(io.BytesIO(stored)))
    body = wire[:-3]  # the terminator ".\r\n"
    crlf = body.count(b"\r\n")
    assert body.count(b"\r") == crlf and body.count(b"\n") == crlf
    assert wire.endswith(b".\r\n") and (wire == b".\r\n" or wire.endswith(b"\r\n.\r\n"))
    assert b"\r\n.\r\n" not in wire[:-3]
    decoder = DataDecoder(10**6)
    assert decoder.feed(wire) == len(wire) and decoder.done and not decoder.bare_newline
    expected = b"".join(line for raw in io.BytesIO(stored) for line in canonical_lines(raw))
    assert b"".join(decoder.take()) == expected
