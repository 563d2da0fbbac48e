"""SORT, THREAD and their UID forms over a socket (RFC 5256; RFC 5957 SORT=DISPLAY)."""

from __future__ import annotations

import imaplib

import pytest

from tests.support.imapclient import RawImap
from tests.support.server import RunningServer


def mail(subject: str, date: str, sender: str, mid: str, refs: str = "",
         size_pad: int = 0) -> bytes:
    extra = f"References: {refs}\r\n" if refs else ""
    return (f"From: {sender}\r\nTo: team@example.test\r\nSubject: {subject}\r\n"
            f"Date: {date}\r\nMessage-ID: {mid}\r\n{extra}\r\n"
            f"body {'x' * size_pad}\r\n").encode()


@pytest.fixture
def box(client: RawImap) -> RawImap:
    client.ok("CREATE Threads")
    msgs = [
        mail("Plan", "Tue, 2 Jan 2024 10:00:00 +0000", "Carol <carol@example.org>", "<p@x>",
             size_pad=300),
        mail("Re: Plan", "Tue, 2 Jan 2024 11:00:00 +0000", "amy@example.org", "<q@x>",
             "<p@x>", size_pad=40),
        mail("Lunch", "Mon, 1 Jan 2024 09:00:00 +0000", "Bob <bob@example.org>", "<l@x>",
             size_pad=200),
        mail("Re: Re: Plan", "Tue, 2 Jan 2024 12:00:00 +0000", "dave@example.org", "<r@x>",
             "<p@x> <q@x>"),
        mail("Fwd: Lunch", "Wed, 3 Jan 2024 08:00:00 +0000", "eve@example.org", "<f@x>",
             size_pad=100),
    ]
    for m in msgs:
        assert b"OK" in client.append("Threads", m)
    client.ok("SELECT Threads")
    return client


def test_capabilities(client: RawImap) -> None:
    caps = client.ok("CAPABILITY")[0]
    for cap in (b" SORT", b" SORT=DISPLAY", b" THREAD=ORDEREDSUBJECT", b" THREAD=REFERENCES"):
        assert cap in caps


def test_sort(box: RawImap) -> None:
    assert box.ok("SORT (DATE) UTF-8 ALL") == [b"* SORT 3 1 2 4 5"]
    assert box.ok("SORT (REVERSE DATE) UTF-8 ALL") == [b"* SORT 5 4 2 1 3"]
    assert box.ok("SORT (SUBJECT) US-ASCII ALL") == [b"* SORT 3 5 1 2 4"]
    assert box.ok("SORT (SIZE) UTF-8 ALL") == [b"* SORT 4 2 5 3 1"]
    assert box.ok("SORT (FROM) UTF-8 ALL") == [b"* SORT 2 3 1 4 5"]
    assert box.ok("SORT (DISPLAYFROM) UTF-8 ALL") == [b"* SORT 2 3 1 4 5"]
    assert box.ok("SORT (ARRIVAL) UTF-8 ALL") == [b"* SORT 1 2 3 4 5"]
    assert box.ok("SORT (SUBJECT REVERSE DATE) UTF-8 SUBJECT plan") == [b"* SORT 4 2 1"]
    assert box.ok("SORT (DATE) UTF-8 SUBJECT nothing-like-this") == [b"* SORT"]
    box.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    box.ok("EXPUNGE")
    assert box.ok("UID SORT (DATE) UTF-8 ALL") == [b"* SORT 3 2 4 5"]
    assert box.ok("SORT (DATE) UTF-8 ALL") == [b"* SORT 2 1 3 4"]
    assert box.ok("UID SORT (DATE) UTF-8 UID 3:4") == [b"* SORT 3 4"]


def test_sort_errors(box: RawImap) -> None:
    _, tagged = box.cmd("SORT (DATE) KOI8-R ALL")
    assert b" NO [BADCHARSET" in tagged
    for bad in ("SORT DATE UTF-8 ALL", "SORT (WHEN) UTF-8 ALL", "SORT (DATE) UTF-8",
                "SORT (REVERSE) UTF-8 ALL", "SORT () UTF-8 ALL", "SORT"):
        assert b" BAD " in box.cmd(bad)[1], bad


def test_thread(box: RawImap) -> None:
    assert box.ok("THREAD REFERENCES UTF-8 ALL") == [b"* THREAD (3 5)(1 2 4)"]
    assert box.ok("THREAD ORDEREDSUBJECT UTF-8 ALL") == [b"* THREAD (3 5)(1 (2)(4))"]
    assert box.ok("UID THREAD REFERENCES UTF-8 SUBJECT plan") == [b"* THREAD (1 2 4)"]
    assert box.ok("THREAD REFERENCES UTF-8 SUBJECT nothing-like-this") == [b"* THREAD"]
    assert b" BAD " in box.cmd("THREAD BYDAY UTF-8 ALL")[1]
    assert b" NO [BADCHARSET" in box.cmd("THREAD REFERENCES X-UNKNOWN ALL")[1]


def test_imaplib(imap_server: RunningServer, user: tuple[str, str], box: RawImap) -> None:
    c = imaplib.IMAP4("127.0.0.1", imap_server.port("imap"))
    c.login(*user)
    c.select("Threads")
    assert c.sort("(REVERSE SIZE)", "UTF-8", "ALL") == ("OK", [b"1 3 5 2 4"])
    assert c.uid("THREAD", "REFERENCES", "UTF-8", "ALL") == ("OK", [b"(3 5)(1 2 4)"])
    assert c.thread("ORDEREDSUBJECT", "UTF-8", "ALL")[1] == [b"(3 5)(1 (2)(4))"]
    c.logout()
