"""SMTP wire layer: commands, paths, parameters, and the DATA decoder (smuggling rules)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.protocols.smtp.wire import (
    DataDecoder,
    SmtpSyntaxError,
    parse_command,
    parse_path,
    xtext_decode,
)


def decode(data: bytes, limit: int = 10**6, step: int = 0) -> tuple[bytes, int, DataDecoder]:
    d = DataDecoder(limit)
    used = 0
    pieces = [data] if not step else [data[i:i + step] for i in range(0, len(data), step)]
    for piece in pieces:
        used += d.feed(piece)
        if d.done:
            break
    return b"".join(d.take()), used, d


def test_commands() -> None:
    assert parse_command(b"ehlo client.example").verb == "EHLO"
    assert parse_command(b"MAIL FROM:<a@b.example> SIZE=10").arg == "FROM:<a@b.example> SIZE=10"
    for bad in (b"", b" MAIL", b"MA1L x", b"NOOP \x01", b"\xff\xfe"):
        with pytest.raises(SmtpSyntaxError):
            parse_command(bad)


def test_paths() -> None:
    p = parse_path("FROM:<a@b.example> SIZE=100 BODY=8BITMIME", "FROM", allow_null=True)
    assert p.address == "a@b.example" and p.params == {"SIZE": "100", "BODY": "8BITMIME"}
    assert parse_path("FROM:<>", "FROM", allow_null=True).null
    assert parse_path("from: <a@b.example>", "FROM").address == "a@b.example"  # lenient
    assert parse_path("TO:<@relay.example,@r2.example:u@c.example>", "TO").address \
        == "u@c.example"
    assert parse_path("TO:<Postmaster>", "TO").address == "postmaster"
    assert parse_path('TO:<"john smith"@c.example>', "TO").address == '"john smith"@c.example'
    assert parse_path("TO:<u@[192.0.2.1]>", "TO").address == "u@[192.0.2.1]"
    assert parse_path("TO:<u@[IPv6:2001:db8::1]>", "TO").domain == "[IPv6:2001:db8::1]"
    assert parse_path("TO:<jöran@bücher.example>", "TO", utf8=True).address \
        == "jöran@bücher.example"
    for arg, code in [("TO:<>", 501), ("TO:a@b.example", 501), ("TO:<a@b.example", 501),
                      ("TO:<a@@b>", 501), ("TO:<a b@c.example>", 501),
                      ("TO:<jöran@b.example>", 553), ("TO:<a@b.example>x", 501),
                      ("TO:<a@-bad-.example>", 501), ("TO:<" + "x" * 65 + "@b.example>", 501),
                      ("FROM:<a@b.example>", 501), ("TO:<a@b.example> SIZE=", 501),
                      ("TO:<a@b.example> A=1 a=2", 501)]:
        with pytest.raises(SmtpSyntaxError) as exc:
            parse_path(arg, "TO")
        assert exc.value.code == code, arg


def test_srs_and_batv_local_parts_may_pass_64_octets() -> None:
    """RFC 5321 §4.5.3.1: an SRS or BATV return path of a long address is still a path (up
    to its 256 octets); any other local part stays within 64."""
    srs = "SRS0=HHHH=TT=subsidiary.example-corporation.example=firstname.lastname"
    assert len(srs) > 64
    assert parse_path(f"TO:<{srs}@a.example>", "TO").address == f"{srs}@a.example"
    tagged = f"prvs=1234abcdef={srs}"
    assert parse_path(f"FROM:<{tagged}@a.example>", "FROM").address == f"{tagged}@a.example"
    assert parse_path(f"TO:<srs1=hh=x=={srs[4:]}@a.example>", "TO").address
    for bad in ("x" * 65, "SRS2=" + "x" * 60, "SRS0" + "x" * 61):
        with pytest.raises(SmtpSyntaxError) as exc:
            parse_path(f"TO:<{bad}@a.example>", "TO")
        assert exc.value.code == 501


def test_xtext() -> None:
    assert xtext_decode("rfc822;a+2Bb@c.example") == "rfc822;a+b@c.example"
    with pytest.raises(SmtpSyntaxError):
        xtext_decode("+Z1")


def test_data_dot_unstuffing_and_terminator() -> None:
    body, used, d = decode(b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n")
    assert body == b"Subject: x\r\n\r\n.leading dot\r\n"
    assert used == len(b"Subject: x\r\n\r\n..leading dot\r\n.\r\n")  # QUIT stays
    assert d.done and not d.bare_newline


@pytest.mark.parametrize("probe", [b"\n.\n", b"\n.\r\n", b"\r\n.\r", b"\r.\r\n", b"\r\n.\n"])
def test_smuggling_probes_never_end_data(probe: bytes) -> None:
    """SMTP smuggling (CVE-2023-51764/5/6): only CRLF.CRLF ends DATA."""
    data = b"Subject: a\r\n\r\nbody" + probe + b"MAIL FROM:<evil@x.example>\r\n"
    _, _, d = decode(data)
    assert not d.done
    _, _, d = decode(data + b"\r\n.\r\n")
    assert d.done and d.bare_newline  # ends at the real terminator, and is refused


def test_size_limit_keeps_reading_to_the_end() -> None:
    body, _, d = decode(b"x" * 100 + b"\r\n" + b"y" * 100 + b"\r\n.\r\n", limit=150)
    assert d.done and d.too_big
    assert len(body) <= 150


@given(st.lists(st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b),
                max_size=20), st.integers(min_value=1, max_value=17))
def test_round_trip_any_chunking(lines: list[bytes], step: int) -> None:
    """Dot-stuffed lines come back as sent, whatever the TCP segmentation."""
    wire = b"".join((b"." + ln if ln.startswith(b".") else ln) + b"\r\n" for ln in lines)
    body, used, d = decode(wire + b".\r\nNEXT", step=step)
    assert d.done and body == b"".join(ln + b"\r\n" for ln in lines)
    assert used + len(b"NEXT") >= len(wire) + 3


def test_long_line_is_streamed_in_pieces() -> None:
    line = b"." + b"z" * (DataDecoder.FLUSH * 3)
    body, _, d = decode(line + b"\r\n.\r\n", step=10_000)
    assert d.done and body == line[1:] + b"\r\n"


def test_newline_watch_across_chunks() -> None:
    """BDAT chunks (RFC 3030): a CRLF split between chunks is fine, a bare CR or LF is not,
    wherever the chunk boundaries fall."""
    from postroom.protocols.smtp.wire import NewlineWatch

    def bare(*chunks: bytes) -> bool:
        watch = NewlineWatch()
        for chunk in chunks:
            watch.feed(chunk)
        return watch.finish()

    text = b"a\r\nb\r\n\r\nc\r\n"
    for cut in range(len(text) + 1):
        assert not bare(text[:cut], text[cut:])
    for data in (b"a\nb", b"a\rb", b"a\r", b"\n", b"a\r\r\n", b"\r\r\n"):
        for cut in range(len(data) + 1):
            assert bare(data[:cut], data[cut:]), (data, cut)
