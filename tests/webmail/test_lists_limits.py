"""The list's limits and settings on a server of its own: search_max_results (the newest kept,
the page says more matched), thread_max (only the newest threaded, said on the page), the
user's page size and time zone, conversations as the user's default, and the spam learner
told of a move into Junk (a copy listener, services/spamlearn.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postroom.core.principal import Principal
from tests.support.server import RunningServer, server_config
from tests.support.webmail import WEBMAIL, Webmail
from tests.support.webmail_lists import act, append, folders, message, rows, subjects

LIMITS = ["web.webmail.search_max_results=100", "web.webmail.thread_max=100",
          "web.webmail.page_size=10", "web.webmail.page_max=20"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("lists")),
                                      extra=[*WEBMAIL, *LIMITS]))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def many(mail: Webmail) -> str:
    who = mail.account("many@example.test")
    imap = mail.imap(who)
    for i in range(105):
        append(imap, "INBOX", message(who, f"Note {i:03d}", msgid=f"<n{i}@x>",
                                      date=f"Tue, 02 Jun 2026 {i // 60:02d}:{i % 60:02d}:00 +0000"))
    imap.logout()
    return who


def _principal(mail: Webmail, address: str) -> Principal:
    services = mail.server.services

    async def get() -> Principal:
        rec = await services.directory.require_account(address)
        return await services.directory.principal_for(rec)
    return mail.server.call(get())


def _prefs(mail: Webmail) -> Any:
    webmail = mail.server.server.webmail
    assert webmail is not None
    return webmail.prefs


def test_search_keeps_the_newest_and_says_more_matched(mail: Webmail, many: str) -> None:
    web = mail.client(many)
    inbox = folders(web)["INBOX"]
    page = web.get(f"/webmail/f/{inbox}?q=Note&size=20")
    assert "1–20 of 100" in page.text and "more messages matched" in page.text
    assert subjects(page)[0] == "Note 104"
    last = web.get(f"/webmail/f/{inbox}?q=Note&size=20&page=5")
    assert subjects(last)[-1] == "Note 005"  # the five oldest matches are left out
    narrow = web.get(f"/webmail/f/{inbox}?q=Note%2010")
    assert "more messages matched" not in narrow.text


def test_conversations_thread_the_newest_only(mail: Webmail, many: str) -> None:
    web = mail.client(many)
    inbox = folders(web)["INBOX"]
    page = web.get(f"/webmail/f/{inbox}?thread=1")
    assert "1–10 of 100" in page.text and "only the newest messages" in page.text


def test_page_size_setting_default_and_cap(mail: Webmail, many: str) -> None:
    web = mail.client(many)
    inbox = folders(web)["INBOX"]
    assert len(rows(web.get(f"/webmail/f/{inbox}"))) == 10  # web.webmail.page_size
    assert len(rows(web.get(f"/webmail/f/{inbox}?size=500"))) == 20  # page_max
    prefs = _prefs(mail)
    mail.server.call(prefs.update(_principal(mail, many), page_size=15))
    page = web.get(f"/webmail/f/{inbox}")
    assert len(rows(page)) == 15 and "1–15 of 105" in page.text and "Page 1 of 7" in page.text


def test_time_zone_and_conversations_setting(mail: Webmail) -> None:
    who = mail.account("tokyo@example.test")
    imap = mail.imap(who)
    append(imap, "INBOX", message(who, "Start", msgid="<s@x>",
                                  date="Tue, 02 Jun 2026 20:30:00 +0000"))
    append(imap, "INBOX", message(who, "Re: Start", msgid="<r@x>", refs="<s@x>",
                                  date="Tue, 02 Jun 2026 21:30:00 +0000"))
    imap.logout()
    prefs = _prefs(mail)
    mail.server.call(prefs.update(_principal(mail, who), timezone="Asia/Tokyo",
                                  threads=True))
    web = mail.client(who)
    inbox = folders(web)["INBOX"]
    page = web.get(f"/webmail/f/{inbox}")
    assert 'datetime="2026-06-03T05:30:00+09:00"' in page.text
    assert "Conversations 1–1 of 1" in " ".join(page.text.split())
    flat = web.get(f"/webmail/f/{inbox}?thread=0")
    assert "Messages 1–2 of 2" in " ".join(flat.text.split())
    assert web.get(f"/webmail/f/{inbox}?since=2026-06-03&before=2026-06-04").status == 200


def test_spam_moves_tell_the_learner(mail: Webmail) -> None:
    who = mail.account("learner@example.test")
    mail.deliver(who, subject="Buy now")
    seen: list[tuple[str, str, int]] = []

    def listener(principal: Any, source: Any, target: Any, pairs: Any) -> None:
        seen.append((source.special_use, target.special_use, len(pairs)))
    listeners = mail.server.services.messages.copy_listeners
    listeners.append(listener)
    try:
        web = mail.client(who)
        ids = folders(web)
        uid = rows(web.get(f"/webmail/f/{ids['INBOX']}"))
        assert act(web, ids["INBOX"], "spam", uid, json=True).status == 200
        junk = rows(web.get(f"/webmail/f/{ids['Junk']}"))
        assert act(web, ids["Junk"], "ham", junk, json=True).status == 200
    finally:
        listeners.remove(listener)
    assert seen == [("", "\\Junk", 1), ("\\Junk", "", 1)]
