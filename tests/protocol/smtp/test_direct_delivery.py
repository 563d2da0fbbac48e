"""Delivery at acceptance (``smtp.deliver_at_acceptance``, issue 20): mail whose recipients
are all local is in its mailboxes by the time the 250 arrives, in the transaction that
accepted it, and never waits in the queue; everything else still goes through the queue."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.protocol.smtp.test_session import MSG, inbox
from tests.support.logs import server_log
from tests.support.server import RunningServer, server_config, wait_for


def _send(srv: RunningServer, rcpts: list[str]) -> int:
    """Send MSG; the queue id from the 250 reply."""
    with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as s:
        s.ehlo("client.example")
        s.mail("a@example.net")
        for rcpt in rcpts:
            assert s.rcpt(rcpt)[0] == 250
        code, text = s.data(MSG)
    assert code == 250
    found = re.search(rb"queued as (\d+)", text)
    assert found is not None
    return int(found.group(1))


def test_local_mail_is_in_the_mailbox_when_the_250_arrives(smtp_server: RunningServer) -> None:
    one, two = smtp_server.add_user("direct"), smtp_server.add_user("direct")
    with server_log() as logged:
        queue_id = _send(smtp_server, [one[0], two[0]])
        # no waiting: the copies committed with the acceptance
        assert len(inbox(smtp_server, one)) == 1 and len(inbox(smtp_server, two)) == 1
        assert all(e.id != queue_id for e in smtp_server.call(smtp_server.services.queue.list()))
        wait_for(lambda: sum(e.record.getMessage() == "delivered"
                             for e in logged.since(0)) >= 2)
        lines = [(e.record.getMessage(), getattr(e.record, "queue_id", None), e.conn)
                 for e in logged.since(0)
                 if e.record.getMessage() in ("smtp accept", "delivered")]
    # the administrator reads acceptance first, then one delivery per recipient, same id;
    # the deliveries were made by the SMTP connection itself, not later by the queue
    conn = lines[0][2]
    assert conn != "-"
    assert lines == [("smtp accept", queue_id, conn), ("delivered", queue_id, conn),
                     ("delivered", queue_id, conn)]


def test_a_recipient_that_cannot_take_it_now_sends_it_through_the_queue(
        smtp_server: RunningServer) -> None:
    """A mailbox that fills up between RCPT and the end of DATA: nothing is delivered at
    acceptance, the entry waits in the queue for that recipient, the other gets one copy."""
    roomy = smtp_server.add_user("roomy")
    full = smtp_server.add_user("full", quota=100)
    queue_id = _send(smtp_server, [roomy[0], full[0]])
    queue = smtp_server.services.queue

    def waiting() -> list[str]:
        return [r for e in smtp_server.call(queue.list()) if e.id == queue_id
                for r in e.recipients]
    wait_for(lambda: waiting() == [full[0]])
    assert len(inbox(smtp_server, roomy)) == 1 and inbox(smtp_server, full) == []
    smtp_server.call(queue.delete(queue_id))  # the shared server's queue is left empty


@pytest.fixture
def queued_server(tmp_path: Path) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(tmp_path, extra=[
        "smtp.mx.enabled=true", "smtp.mx.port=0", "smtp.deliver_at_acceptance=false"]))
    yield srv
    srv.stop()


def test_switched_off_everything_goes_through_the_queue(queued_server: RunningServer) -> None:
    user = queued_server.add_user("queued")
    with server_log() as logged:
        queue_id = _send(queued_server, [user[0]])
        wait_for(lambda: len(inbox(queued_server, user)) == 1)
        claimed = [e for e in logged.since(0) if e.record.getMessage() == "delivered"]
    # delivered by the queue manager, outside any connection
    assert [(getattr(e.record, "queue_id", None), e.conn) for e in claimed] == [(queue_id, "-")]
    assert queued_server.call(queued_server.services.queue.list()) == []
