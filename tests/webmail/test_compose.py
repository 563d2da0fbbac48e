"""Writing mail in webmail over HTTP: send, reply, forward, drafts, uploads, limits, and bad
input (docs/webmail/compose.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, server_config
from tests.support.webmail import WEBMAIL, Webmail
from tests.support.webmail_compose import (
    COMPOSE_CONFIG,
    fetch_all,
    fields_of,
    message,
    parse,
    post,
    start,
    uid_by_subject,
    upload,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("compose")),
                                      extra=WEBMAIL + COMPOSE_CONFIG))
    try:
        yield srv
    finally:
        srv.stop()


def test_send_reaches_bob_with_a_sent_copy_keeping_bcc(mail: Webmail) -> None:
    alice = mail.account("alice@example.test")
    bob = mail.account("bob@example.test")
    carol = mail.account("carol@example.test")
    web = mail.client(alice)
    cid = start(web)
    page = post(web, f"/webmail/compose/{cid}/send", {
        "identity": alice, "from_name": "Alice Example", "to": f"Bob <{bob}>",
        "bcc": carol, "subject": "Lunch on Friday?", "body": "Shall we?\n"})
    assert page.status == 303, page.text
    got = parse(fetch_all(mail, bob, "INBOX")[-1][1])
    assert got["Subject"] == "Lunch on Friday?"
    assert got["Bcc"] is None
    assert "Alice Example" in str(got["From"])
    assert got.get_content_type() == "text/plain"
    assert "Shall we?" in got.get_content()
    assert fetch_all(mail, carol, "INBOX")
    flags, raw = fetch_all(mail, alice, "Sent")[-1]
    sent = parse(raw)
    assert carol in str(sent["Bcc"])
    assert sent["Message-ID"] == got["Message-ID"]
    assert b"\\Seen" in flags
