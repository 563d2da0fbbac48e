"""Pure parts of the filters, no daemon: header folding, reply parsing, which moves teach."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.config import ConfigError, load
from postroom.core.envelope import Stage
from postroom.core.errors import Kind
from postroom.core.records import MailboxRec
from postroom.core.smtp import reply_for
from postroom.net.clamd import ClamdClient, ClamdError, StreamTooLong
from postroom.net.spamd import SpamdError, SpamResult, parse_reply, parse_spam_header
from postroom.services.pipeline.spamd import fold_tests, spam_headers
from postroom.services.spamlearn import verdict_of


def box(name: str, special: str = "") -> MailboxRec:
    return MailboxRec(1, 1, 1, name, None, "mail", special, None, 1, 1, 1, 0, 0)


def test_moves_that_teach() -> None:
    inbox, junk, trash, archive = box("INBOX"), box("Junk", "\\Junk"), \
        box("Trash", "\\Trash"), box("Archive", "\\Archive")
    assert verdict_of(inbox, junk) is True
    assert verdict_of(archive, junk) is True
    assert verdict_of(junk, inbox) is False
    assert verdict_of(junk, archive) is False
    assert verdict_of(junk, trash) is None  # deleting spam is no verdict
    assert verdict_of(junk, junk) is None
    assert verdict_of(inbox, archive) is None


def test_spam_headers_are_folded_and_flagged() -> None:
    symbols = tuple(f"RULE_NUMBER_{i}" for i in range(12))
    lines = spam_headers(SpamResult(True, 12.25, 5.0, symbols), 5.0)
    assert lines[0] == "X-Spam-Flag: YES"
    assert lines[1].startswith("X-Spam-Status: Yes, score=12.2 required=5.0 tests=")
    assert all(len(part) <= 78 for part in lines[1].split("\r\n"))
    assert lines[1].replace("\r\n\t", "").endswith(",".join(symbols))
    assert lines[2] == "X-Spam-Score: 12.2"
    assert spam_headers(SpamResult(False, 1.0, 5.0, ()), 5.0) == (
        "X-Spam-Status: No, score=1.0 required=5.0 tests=none", "X-Spam-Score: 1.0")
    assert fold_tests(("A",), "X: y") == "X: y tests=A"


def test_spamd_replies() -> None:
    reply = parse_reply(b"SPAMD/1.1 0 EX_OK\r\nContent-length: 5\r\nSpam: True ; 7.5 / 5.0"
                        b"\r\n\r\nA,B,C")
    assert reply.headers["spam"] == "True ; 7.5 / 5.0" and reply.body == b"A,B,C"
    assert parse_spam_header("False ; -1.2 / 5.0") == (False, -1.2, 5.0)
    with pytest.raises(SpamdError):
        parse_spam_header("maybe")


def test_clamd_replies() -> None:
    client = ClamdClient("127.0.0.1:3310")
    assert client._result("stream: OK").infected is False
    found = client._result("stream: Win.Test.EICAR_HDB-1 FOUND")
    assert found.infected and found.signature == "Win.Test.EICAR_HDB-1"
    with pytest.raises(StreamTooLong):
        client._result("INSTREAM size limit exceeded. ERROR")
    with pytest.raises(ClamdError):
        client._result("Can't allocate memory ERROR")


def test_replies_at_data() -> None:
    assert str(reply_for(Stage.CONTENT, Kind.SPAM)) == "550 5.7.1"
    assert str(reply_for(Stage.CONTENT, Kind.VIRUS)) == "554 5.7.1"
    assert str(reply_for(Stage.CONTENT, Kind.TEMPORARY)).startswith("451 ")


def test_config_keys() -> None:
    cfg = load(None, ['pipeline.checks=["size","smuggling","clamav","spamd"]',
                      "pipeline.spamd.address=/run/spamd.sock", "pipeline.spamd.reject_at=15",
                      'pipeline.clamav.on_infected="quarantine"'])
    assert cfg.pipeline.spamd.address == "/run/spamd.sock"
    assert cfg.pipeline.spamd.reject_at == 15.0
    assert cfg.pipeline.clamav.on_infected == "quarantine"
    with pytest.raises(ConfigError, match=r"pipeline\.clamav\.address"):
        load(None, ["pipeline.clamav.address=nowhere"])
    with pytest.raises(ConfigError, match=r"pipeline\.spamd\.on_error"):
        load(None, ['pipeline.spamd.on_error="ignore"'])


@given(st.binary(max_size=300))
def test_any_spamd_reply_parses_or_is_a_spamd_error(raw: bytes) -> None:
    try:
        reply = parse_reply(raw)
    except SpamdError:
        return
    assert reply.protocol.startswith("SPAMD/")
    if "spam" in reply.headers:
        with contextlib.suppress(SpamdError):
            parse_spam_header(reply.headers["spam"])


@given(st.binary(max_size=200))
def test_any_spamd_like_reply_parses_or_is_a_spamd_error(tail: bytes) -> None:
    with contextlib.suppress(SpamdError):
        parse_reply(b"SPAMD/1.1 " + tail)
