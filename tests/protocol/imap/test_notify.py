"""Two connections: changes by one session (or delivery) reach the other at the next command,
expunges only where RFC 9051 §7.5.1 allows, and at once during IDLE (RFC 2177)."""

from __future__ import annotations

import time

from tests.protocol.imap.conftest import message
from tests.support.imapclient import RawImap
from tests.support.server import RunningServer


def pair(server: RunningServer, user: tuple[str, str]) -> tuple[RawImap, RawImap]:
    a, b = RawImap(server.port("imap")), RawImap(server.port("imap"))
    a.login(*user)
    b.login(*user)
    return a, b


def test_new_message_and_flags_reach_other_session(imap_server: RunningServer,
                                                   user: tuple[str, str]) -> None:
    a, b = pair(imap_server, user)
    a.append("INBOX", message("first"))
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    a.append("INBOX", message("second"))
    assert b"* 2 EXISTS" in b.ok("NOOP")
    a.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    assert b.ok("NOOP") == [b"* 1 FETCH (UID 1 FLAGS (\\Flagged))"]
    assert a.ok("NOOP") == []  # its own change is not echoed back


def test_expunge_waits_for_an_allowed_command(imap_server: RunningServer,
                                              user: tuple[str, str]) -> None:
    a, b = pair(imap_server, user)
    for i in range(3):
        a.append("INBOX", message(f"x{i}"))
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    a.ok("EXPUNGE")
    # FETCH, STORE, SEARCH must not announce it (RFC 3501 §7.4.1); seqnums stay put.
    lines, tagged = b.cmd("FETCH 1:3 UID")
    assert not any(b"EXPUNGE" in ln for ln in lines)
    assert b"NO [EXPUNGEISSUED]" in tagged
    assert b.ok("SEARCH ALL")[-1] == b"* SEARCH 1 3"  # UID 3 is still seqnum 3
    assert b"* 2 EXPUNGE" in b.ok("NOOP")
    assert b.ok("FETCH 1:* UID") == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 3)"]


def test_idle_gets_changes_immediately(imap_server: RunningServer,
                                       user: tuple[str, str]) -> None:
    a, b = pair(imap_server, user)
    b.ok("SELECT INBOX")
    b.send(b"I1 IDLE\r\n")
    assert b.line() == b"+ idling"
    start = time.monotonic()
    a.append("INBOX", message("while idle"))
    assert b.line() == b"* 1 EXISTS"
    assert b.line() == b"* 1 RECENT"
    assert time.monotonic() - start < 2
    a.ok("SELECT INBOX")
    a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    a.ok("EXPUNGE")
    got = b.line()
    while got.startswith(b"* 1 FETCH"):
        got = b.line()
    assert got == b"* 1 EXPUNGE"
    b.send(b"DONE\r\n")
    assert b.line() == b"I1 OK IDLE terminated"


def test_idle_without_done_is_bad(client: RawImap) -> None:
    client.send(b"I1 IDLE\r\n")
    assert client.line() == b"+ idling"
    client.send(b"NOPE\r\n")
    assert client.line().startswith(b"I1 BAD")


def test_delivery_by_service_reaches_idle(imap_server: RunningServer,
                                          user: tuple[str, str]) -> None:
    """A message stored by another path (here the service the SMTP delivery will use)."""
    c = RawImap(imap_server.port("imap"))
    c.login(*user)
    c.ok("SELECT INBOX")
    c.send(b"I1 IDLE\r\n")
    c.line()
    from postroom.core.principal import Principal

    async def deliver() -> None:
        svc = imap_server.services
        account = await svc.directory.require_account(user[0])
        who = Principal.operator_as(account.id, account.address, account.domain_id)
        await svc.messages.append(who, "INBOX", [(message("delivered"), [], None)])
    imap_server.call(deliver())
    assert c.line() == b"* 1 EXISTS"
    c.send(b"DONE\r\n")
