"""The spamd and clamd clients (net/spamd.py, net/clamd.py) against the real daemons."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage

import pytest

from postroom.net.clamd import ClamdClient, ClamdError, ClamdUnavailable, StreamTooLong
from postroom.net.spamd import Endpoint, SpamdClient, SpamdError, parse_reply
from postroom.services.filterstatus import parse_clamd_version
from tests.support.daemons import EICAR, GTUBE, SIGNATURE, Clamd, Spamd, free_port

HAM = (b"From: Alice <alice@example.net>\r\nTo: bob@example.test\r\n"
       b"Subject: lunch on Thursday\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
       b"Message-ID: <lunch-1@example.net>\r\n\r\n"
       b"Shall we meet at the usual place at noon? I will bring the notes.\r\n")


def spam_message(body: bytes = GTUBE) -> bytes:
    return (b"From: x@example.net\r\nTo: y@example.test\r\nSubject: offer\r\n"
            b"Date: Thu, 03 Dec 2026 10:00:00 +0000\r\nMessage-ID: <o-1@example.net>\r\n\r\n"
            + body + b"\r\n")


def with_attachment(data: bytes, filename: str, filler: int = 0) -> bytes:
    msg = EmailMessage()
    msg["From"] = "x@example.net"
    msg["To"] = "y@example.test"
    msg["Subject"] = "the file"
    msg.set_content("See attached.\n" + "filler line of text\n" * filler)
    msg.add_attachment(data, maintype="application", subtype="octet-stream",
                       filename=filename)
    return msg.as_bytes().replace(b"\n", b"\r\n")


def zipped(data: bytes, name: str = "eicar.com") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buf.getvalue()


# -- spamd -----------------------------------------------------------------------------------
async def test_spamd_ping_over_tcp_and_unix_socket(spamd: Spamd) -> None:
    assert (await SpamdClient(spamd.address).ping()).startswith("PONG (SPAMD/")
    assert (await SpamdClient(spamd.socket).ping()).startswith("PONG")


async def test_spamd_scores_gtube_as_spam_with_its_symbol(spamd: Spamd) -> None:
    result = await SpamdClient(spamd.address).symbols(spam_message())
    assert result.is_spam and result.score > 500 and result.required == 5.0
    assert "GTUBE" in result.symbols


async def test_spamd_scores_ham_below_the_threshold(spamd: Spamd) -> None:
    result = await SpamdClient(spamd.socket).symbols(HAM)
    assert not result.is_spam and result.score < 5.0
    assert "GTUBE" not in result.symbols


async def test_spamd_tell_learns_and_says_so(spamd: Spamd) -> None:
    before = spamd.magic().get("nham", 0)
    body = b"Quarterly garden club minutes, roses and tulips " + b"x" * 8
    answer = await SpamdClient(spamd.address).tell(spam_message(body), spam=False)
    assert answer == "DidSet: local"
    assert spamd.magic()["nham"] == before + 1


async def test_spamd_unreachable_is_a_spamd_error() -> None:
    client = SpamdClient(f"127.0.0.1:{free_port()}", timeout=2, connect_timeout=1)
    with pytest.raises(SpamdError, match=r"spamd at 127\.0\.0\.1"):
        await client.symbols(HAM)


def test_spamd_error_reply_and_addresses() -> None:
    reply = parse_reply(b"SPAMD/1.0 76 Bad header line: (Content-Length mismatch)\r\n")
    assert reply.exit_code == 76 and reply.message.startswith("Bad header line")
    with pytest.raises(SpamdError):
        parse_reply(b"HTTP/1.1 200 OK\r\n\r\n")
    assert Endpoint.parse("/run/spamd.sock").path == "/run/spamd.sock"
    assert Endpoint.parse("[::1]:783") == Endpoint(host="::1", port=783)
    with pytest.raises(ValueError):
        Endpoint.parse("localhost")


# -- clamd -----------------------------------------------------------------------------------
async def test_clamd_version_and_ping(clamd_up: Clamd) -> None:
    client = ClamdClient(clamd_up.address)
    version = await client.version()
    assert version.startswith("ClamAV ")
    assert await client.ping()
    assert await ClamdClient(clamd_up.socket).ping()
    assert parse_clamd_version("ClamAV 1.4.6/27000/Thu Dec  3 08:00:00 2026") == (
        "ClamAV 1.4.6", "27000 (Thu Dec 3 08:00:00 2026)")
    assert parse_clamd_version("ClamAV 1.4.6") == ("ClamAV 1.4.6", "")


@pytest.mark.parametrize("content", [
    pytest.param(EICAR, id="plain"),
    pytest.param(with_attachment(EICAR, "eicar.com"), id="base64-attachment"),
    pytest.param(zipped(EICAR), id="zip"),
    pytest.param(with_attachment(zipped(zipped(EICAR), "inner.zip"), "outer.zip"),
                 id="nested-zip-attachment"),
])
async def test_clamd_finds_eicar_however_wrapped(clamd_up: Clamd, content: bytes) -> None:
    result = await ClamdClient(clamd_up.address, chunk_size=1024).scan_bytes(content)
    assert result.infected and result.signature.startswith(SIGNATURE)


async def test_clamd_clean_content_in_many_chunks(clamd_up: Clamd) -> None:
    content = with_attachment(b"just some bytes" * 1000, "data.bin", filler=5000)
    assert len(content) > 100_000
    result = await ClamdClient(clamd_up.socket, chunk_size=4096).scan_stream(
        io.BytesIO(content))
    assert not result.infected


async def test_clamd_stream_limit_known_to_the_client(clamd_up: Clamd) -> None:
    client = ClamdClient(clamd_up.address, chunk_size=1024, max_stream=4096)
    with pytest.raises(StreamTooLong):
        await client.scan_bytes(b"a" * 5000)


async def test_clamd_stream_limit_enforced_by_clamd() -> None:
    """A clamd with a smaller StreamMaxLength than we were told refuses the stream, never
    scans part of it as if it were all. Its refusal is read when it arrives; but clamd closes
    with our unread chunks in its buffer, and the kernel then resets the connection and may
    drop the refusal, so the client sees a lost connection instead. Either way: an error,
    never a verdict (which is why max_stream must not exceed clamd's limit)."""
    small = Clamd(stream_max="64K")
    small.start()
    try:
        client = ClamdClient(small.address, chunk_size=16 * 1024)
        for _ in range(3):
            with pytest.raises((StreamTooLong, ClamdUnavailable)):
                await client.scan_bytes(b"b" * (1024 * 1024))
        assert await client.ping()  # and clamd is fine
    finally:
        small.cleanup()


async def test_clamd_unreachable_is_unavailable() -> None:
    client = ClamdClient(f"127.0.0.1:{free_port()}", timeout=2, connect_timeout=1)
    with pytest.raises(ClamdUnavailable):
        await client.version()
    with pytest.raises(ClamdError):
        await client.scan_bytes(b"hello")
