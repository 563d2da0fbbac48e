"""A 100,000-message mailbox: SELECT, UID FETCH 1:* (FLAGS), UID SEARCH UNSEEN, SEARCH TEXT and
a QRESYNC resync answer correctly (issue 3 acceptance; the timings are in bench/, not here).

The mailbox is filled through the store's own append path in large transactions (the way an
import would), with 1,000 distinct message bodies each stored 100 times: the server cannot
tell, and the suite stays fast.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from postroom.core import flags as F
from postroom.core.principal import Principal
from tests.support.imapclient import RawImap
from tests.support.server import RunningServer, server_config

TOTAL = 100_000
DISTINCT = 1_000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str, str]]:
    srv = RunningServer(server_config(tmp_path_factory.mktemp("big") / "data", extra=[
        'server.plaintext_auth_networks=["127.0.0.1/32"]']))
    user, password = srv.add_user()

    async def fill() -> None:
        svc = srv.services
        account = await svc.directory.require_account(user)
        who = Principal.operator_as(account.id, account.address, account.domain_id)
        handle = await svc.mailboxes.open(who, "INBOX")
        prepared = []
        for i in range(DISTINCT):
            word = "needle" if i == 123 else f"hay{i}"
            data = (f"From: s{i}@example.org\r\nSubject: bulk {i}\r\n\r\n"
                    f"body {word} text\r\n").encode()
            prepared.append(await svc.messages.prepare(data))
        chunk = []
        for n in range(TOTAL):
            m = prepared[n % DISTINCT]
            flags = F.SEEN if n % 10 else 0  # every tenth unseen
            chunk.append(type(m)(m.blob, m.prefix, m.meta, flags, m.keywords,
                                 m.internal_date, m.text))
            if len(chunk) == 10_000:
                await svc.messages.append_prepared(who, handle, chunk)
                chunk = []
    srv.call(fill(), timeout=600)
    yield srv, user, password
    srv.stop()


def test_hundred_thousand(big: tuple[RunningServer, str, str]) -> None:
    srv, user, password = big
    c = RawImap(srv.port("imap"), timeout=120)
    c.login(user, password)
    c.ok("ENABLE QRESYNC")
    start = time.monotonic()
    untagged = c.ok("SELECT INBOX")
    select_s = time.monotonic() - start
    text = b"\n".join(untagged)
    assert b"* 100000 EXISTS" in untagged
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", text).group(1))  # type: ignore[union-attr]
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", text).group(1))  # type: ignore[union-attr]

    start = time.monotonic()
    lines = c.ok("UID FETCH 1:* (FLAGS)")
    fetch_s = time.monotonic() - start
    assert len(lines) == TOTAL
    # The first read-write SELECT of an IMAP4rev1 session takes every new message as recent
    # (RFC 3501 §2.3.2).
    assert lines[0] == b"* 1 FETCH (UID 1 FLAGS (\\Recent))"
    assert lines[1] == b"* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent))"

    start = time.monotonic()
    unseen = c.ok("UID SEARCH UNSEEN")[-1].split()[2:]
    unseen_s = time.monotonic() - start
    assert len(unseen) == TOTAL // 10 and unseen[:2] == [b"1", b"11"]

    start = time.monotonic()
    found = c.ok("SEARCH TEXT needle")[-1].split()[2:]
    text_s = time.monotonic() - start
    assert [int(x) for x in found] == list(range(124, TOTAL + 1, DISTINCT))

    # Changes, then a QRESYNC resync from the old state (RFC 7162 §3.2.5).
    c.ok("STORE 5 +FLAGS.SILENT (\\Flagged)")
    c.ok("STORE 7 +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    c.ok("UNSELECT")
    untagged = c.ok(f"SELECT INBOX (QRESYNC ({uidvalidity} {modseq}))")
    assert b"* 99999 EXISTS" in untagged
    assert b"* VANISHED (EARLIER) 7" in untagged
    assert b"* 5 FETCH (UID 5 FLAGS (\\Seen \\Flagged) MODSEQ (" in b"\n".join(untagged)
    print(f"\n100k: SELECT {select_s * 1000:.0f} ms, UID FETCH 1:* FLAGS {fetch_s * 1000:.0f} "
          f"ms, UID SEARCH UNSEEN {unseen_s * 1000:.0f} ms, SEARCH TEXT {text_s * 1000:.0f} ms")


