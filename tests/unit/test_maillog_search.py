"""The mail-log search (services/maillog_search.py) over log files written by the server's own
formatters (obs/log.py) and mail-log calls (obs/maillog.py), in both formats: by address,
queue id and Message-ID, grouped by queue id, newest first, within its limits."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.core.actor import Actor, Origin
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.obs import maillog
from postroom.obs.log import JsonFormatter, TextFormatter
from postroom.services.maillog_search import MailLogSearch, parse_line

OP = Actor.operator()


@pytest.fixture(params=["text", "json"])
def log_file(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "postroom.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(JsonFormatter() if request.param == "json" else TextFormatter())
    logger = logging.getLogger("postroom")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield path
    finally:
        handler.close()
        logger.handlers[:], logger.level, logger.propagate = saved


def write_history(count: int = 3) -> None:
    """``count`` messages: each accepted, then delivered or deferred; one refusal between."""
    for n in range(1, count + 1):
        maillog.smtp_accept(40 + n, "198.51.100.2", "mx.example.net", f"bob{n}@example.net",
                            ["ann@example.com", f"carl{n}@example.com"],
                            f"<m{n}@example.net>", 2000 + n, None, True)
        logging.getLogger("postroom.imap").info("noise line", extra={"user": "ann@example.com"})
        maillog.outcome("delivered", 40 + n, "ann@example.com", "INBOX", "2.0.0")
        maillog.outcome("deferred", 40 + n, f"carl{n}@example.com", "-", "4.4.1",
                        "connection refused, will retry")
        if n == 2:
            maillog.smtp_reject("rcpt", "203.0.113.9", "x y", "spam@x.example",
                                "nobody@example.com", None, False, "550 5.1.1",
                                "no such user")


async def test_by_message_id_finds_the_whole_trail(log_file: Path) -> None:
    write_history()
    result = await MailLogSearch(str(log_file)).search(OP, "<m2@example.net>")
    assert [t.queue_id for t in result.trails] == [42]
    trail = result.trails[0]
    assert [e.event for e in trail.entries] == ["smtp accept", "delivered", "deferred"]
    assert trail.message_id == "<m2@example.net>"
    assert trail.entries[2].fields["reason"] == "connection refused, will retry"
    assert result.complete and not result.truncated
    # without the angle brackets, and asked explicitly
    again = await MailLogSearch(str(log_file)).search(OP, "m2@example.net", "msgid")
    assert [t.queue_id for t in again.trails] == [42]


async def test_a_line_before_queueing_joins_its_trail(log_file: Path) -> None:
    from postroom.obs.log import conn_id

    token = conn_id.set("c77")
    try:
        logging.getLogger("postroom.mail").info("dkim sign", extra={
            "from": "<bob@example.net>", "d": "-", "msgid": "<m77@example.net>",
            "decision": "skipped", "reason": "no key"})
        maillog.smtp_accept(77, "192.0.2.1", "h", "bob@example.net", ["ann@example.com"],
                            "<m77@example.net>", 10, None, False)
    finally:
        conn_id.reset(token)
    maillog.outcome("delivered", 77, "ann@example.com", "INBOX", "2.0.0")
    result = await MailLogSearch(str(log_file)).search(OP, "<m77@example.net>")
    assert [t.queue_id for t in result.trails] == [77]
    assert [e.event for e in result.trails[0].entries] == ["dkim sign", "smtp accept",
                                                          "delivered"]


async def test_by_address_newest_first_with_refusals(log_file: Path) -> None:
    write_history()
    search = MailLogSearch(str(log_file))
    result = await search.search(OP, "ANN@example.com", "address")
    assert [t.queue_id for t in result.trails] == [43, 42, 41]
    assert [e.event for e in result.trails[0].entries] == ["smtp accept", "delivered",
                                                          "deferred"]
    refused = await search.search(OP, "nobody@example.com")
    assert len(refused.trails) == 1 and refused.trails[0].queue_id is None
    entry = refused.trails[0].entries[0]
    assert (entry.event, entry.fields["status"], entry.fields["helo"]) == \
        ("smtp reject", "550 5.1.1", "x y")
    # an address that only appears in another field (a HELO) or another logger: nothing
    assert (await search.search(OP, "ann@example.co", "address")).trails == ()


async def test_by_queue_id(log_file: Path) -> None:
    write_history(12)
    result = await MailLogSearch(str(log_file)).search(OP, "41")
    assert [t.queue_id for t in result.trails] == [41]  # not 411, not 141
    assert len(result.trails[0].entries) == 3


async def test_limits_bound_the_reading(log_file: Path) -> None:
    write_history(50)
    few = await MailLogSearch(str(log_file), max_results=2).search(OP, "ann@example.com")
    assert [t.queue_id for t in few.trails] == [90, 89] and few.truncated
    assert not few.complete
    short = await MailLogSearch(str(log_file), max_lines=100).search(OP, "<m1@example.net>")
    assert short.trails == () and short.lines_read == 100 and not short.complete
    size = log_file.stat().st_size
    small = await MailLogSearch(str(log_file), max_bytes=size // 2).search(OP, "41")
    assert small.bytes_read == size // 2 and small.trails == () and not small.complete
    whole = await MailLogSearch(str(log_file)).search(OP, "41")
    assert whole.bytes_read == size and whole.complete


async def test_the_rotated_file_is_read_after_the_current_one(log_file: Path) -> None:
    write_history(2)
    log_file.rename(log_file.with_name(log_file.name + ".1"))
    write_history(0)
    maillog.outcome("delivered", 99, "ann@example.com", "INBOX", "2.0.0")
    result = await MailLogSearch(str(log_file)).search(OP, "ann@example.com")
    assert [t.queue_id for t in result.trails] == [99, 42, 41]


async def test_bad_queries_and_who_may_search(tmp_path: Path) -> None:
    search = MailLogSearch(str(tmp_path / "none.log"))
    for query, kind in (("", "auto"), ("x" * 2000, "auto"), ("abc", "queue"),
                        ("nobody", "address"), ("a\nb@x", "auto"), ("a@b", "what")):
        with pytest.raises(MailError) as exc:
            await search.search(OP, query, kind)  # type: ignore[arg-type]
        assert exc.value.kind is Kind.INVALID
    user = Actor(Principal(1, "ann@example.com", 1), Origin("webadmin", "192.0.2.1"))
    with pytest.raises(MailError) as exc:
        await search.search(user, "41")
    assert exc.value.kind is Kind.NO_PERM
    missing = await search.search(OP, "41")
    assert missing.trails == () and missing.lines_read == 0
    unset = await MailLogSearch("").search(OP, "41")
    assert "log.file" in unset.note


def test_parse_line_takes_only_mail_lines() -> None:
    assert parse_line(b"2026-12-03T10:00:09Z info postroom.auth conn=9 login failed "
                      b"protocol=imap ip=203.0.113.9 user=a@example.com") is None
    assert parse_line(b"Traceback (most recent call last):") is None
    assert parse_line(b'{"logger": "postroom.mail", "msg": "sent", "queue_id": 7, "to": '
                      b'"<a@b.example>"') is None  # cut short by a crash
    entry = parse_line(b'2026-12-03T10:00:02Z info postroom.mail conn=- delivered '
                       b'queue_id=41 to=<alice@example.com> where=INBOX reason="a \\"b\\""')
    assert entry is not None and entry.queue_id == 41
    assert entry.fields == {"queue_id": "41", "to": "<alice@example.com>", "where": "INBOX",
                            "reason": 'a "b"'}


def test_a_huge_line_is_skipped_whole(tmp_path: Path) -> None:
    """Review finding: after a line over MAX_LINE was skipped, the block before it yielded
    that line's head as a line of its own."""
    from postroom.services.maillog_search import MAX_LINE, _Budget, _reverse_lines
    path = tmp_path / "mail.log"
    path.write_bytes(b"first\n" + b"x" * (3 * MAX_LINE + 123) + b"\nlast\n")
    got = list(_reverse_lines(path, _Budget(1 << 30, 1000)))
    assert got == [b"last", b"first"]


async def test_lines_before_queueing_are_bounded_like_results(log_file: Path) -> None:
    """Review finding: matching lines without a queue id (a DKIM decision before the message
    was queued) were all kept, up to the line budget; they are bounded by max_results."""
    from postroom.obs.log import conn_id

    token = conn_id.set("c88")
    try:
        for n in range(50):
            logging.getLogger("postroom.mail").info("dkim sign", extra={
                "from": "<flood@example.net>", "d": "-", "msgid": f"<f{n}@example.net>",
                "decision": "skipped", "reason": "no key"})
    finally:
        conn_id.reset(token)
    search = MailLogSearch(str(log_file))
    search.max_results = 5
    result = await search.search(OP, "flood@example.net")
    assert result.truncated
