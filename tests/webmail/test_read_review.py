"""Review of issue 23, reading: regressions for the findings fixed in the reader.

- finding 1: the sanitiser, ``text_of`` and linkifying run in a worker thread, never on the
  event loop that serves every protocol (shown by making each one block for a second and
  timing an IMAP NOOP meanwhile);
- finding 2: the sanitised-HTML cache is keyed by the message's identity, so a folder id
  SQLite reuses after a delete never shows the deleted folder's cached body;
- finding 8: "always show images from" is refused, and not offered, when our check did not
  verify the sender (here: "none", an IMAP APPEND), and a saved sender does not unlock such
  a message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from postroom.mime import html as sanitiser
from postroom.web.webmail import read as read_page
from tests.support.web import WebClient
from tests.support.webmail import Webmail
from tests.support.webmail_compose import folder_id
from tests.support.webmail_read import append_raw, inbox_id

ALICE = "alice@example.test"
BOB = "bob@example.test"
BLOCK = 1.0  # how long each patched step blocks its thread


def html_mail(subject: str, body: str) -> bytes:
    return (f"From: x@remote.test\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/html; charset=utf-8\r\n\r\n{body}\r\n").encode()


@pytest.fixture(scope="module")
def accounts(mail: Webmail) -> Iterator[None]:
    mail.account(ALICE)
    mail.account(BOB)
    yield


def slow(real: Callable[..., Any]) -> Callable[..., Any]:
    def blocking(*args: Any, **kwargs: Any) -> Any:
        time.sleep(BLOCK)  # holds whichever thread runs it, as CPU-bound parsing would
        return real(*args, **kwargs)
    return blocking


def noop_latency_during(mail: Webmail, fetch: Callable[[], int]) -> float:
    """Run ``fetch`` (a page load) in a thread; the time an IMAP NOOP takes meanwhile."""
    imap = mail.imap(ALICE)
    status: list[int] = []
    loader = threading.Thread(target=lambda: status.append(fetch()))
    try:
        loader.start()
        time.sleep(0.3)  # the page is now in the patched step
        started = time.perf_counter()
        imap.noop()
        took = time.perf_counter() - started
        loader.join()
    finally:
        imap.logout()
    assert status == [200]
    return took


@pytest.mark.parametrize("step", ["sanitise", "text_of", "linkify"])
def test_reading_work_runs_off_the_event_loop(mail: Webmail, accounts: None,
                                              monkeypatch: pytest.MonkeyPatch,
                                              step: str) -> None:
    if step == "linkify":
        raw = b"From: x@remote.test\r\nSubject: text\r\n\r\nsee https://ok.test/a\r\n"
        monkeypatch.setattr(read_page, "linkify", slow(read_page.linkify))
    elif step == "text_of":  # too complex for HTML: the page shows its text
        raw = html_mail("deep", "<div>x</q>" * 40_000)
        monkeypatch.setattr(sanitiser, "text_of", slow(sanitiser.text_of))
    else:
        raw = html_mail("fresh", f"<p>hello {time.time_ns()}</p>")  # not in the cache
        monkeypatch.setattr(sanitiser, "sanitise", slow(sanitiser.sanitise))
    uid = append_raw(mail, ALICE, raw)
    web = mail.client(ALICE)
    fid = inbox_id(web)
    took = noop_latency_during(mail, lambda: web.get(f"/webmail/f/{fid}/m/{uid}").status)
    assert took < BLOCK / 2, f"IMAP NOOP waited {took:.2f} s for the {step} step"


def test_a_reused_folder_id_never_shows_the_cached_body(mail: Webmail, accounts: None) -> None:
    bob, alice = mail.client(BOB), mail.client(ALICE)
    imap_bob, imap_alice = mail.imap(BOB), mail.imap(ALICE)
    try:
        assert imap_bob.create("Tmp")[0] == "OK"
        append_raw(mail, BOB, html_mail("secret", "<p>BOB-SECRET-BODY</p>"), "Tmp")
        theirs = folder_id(mail, BOB, "Tmp")
        assert "BOB-SECRET" in bob.get(f"/webmail/f/{theirs}/m/1/body").text  # now cached
        assert imap_bob.delete("Tmp")[0] == "OK"
        assert imap_alice.create("Mine")[0] == "OK"
        append_raw(mail, ALICE, html_mail("own", "<p>alice-own-body</p>"), "Mine")
        mine = folder_id(mail, ALICE, "Mine")
        if mine != theirs:
            pytest.skip("the store did not reuse the folder id")
        body = alice.get(f"/webmail/f/{mine}/m/1/body")
        assert body.status == 200 and "alice-own-body" in body.text
        assert "BOB-SECRET" not in body.text
        assert "BOB-SECRET" not in alice.get(f"/webmail/f/{mine}/m/1").text
    finally:
        imap_bob.logout()
        imap_alice.logout()


def test_unverified_sender_gets_images_for_this_message_only(mail: Webmail,
                                                             accounts: None) -> None:
    web: WebClient = mail.client(ALICE)
    fid = inbox_id(web)
    raw = html_mail("pixel", "<p>hi</p><img src='https://remote.invalid/p.png'>")
    uid = append_raw(mail, ALICE, raw)  # nobody checked it: verdict "none"
    page = web.get(f"/webmail/f/{fid}/m/{uid}")
    assert "auth-none" in page.text and 'class="images-bar"' in page.text
    assert 'value="sender"' not in page.text  # "always from x@remote.test" is not offered
    refused = web.post(f"/webmail/f/{fid}/m/{uid}/images", {"for": "sender"})
    assert refused.status == 422, refused.status
    assert 'class="images-bar"' in web.get(f"/webmail/f/{fid}/m/{uid}").text
    assert web.post(f"/webmail/f/{fid}/m/{uid}/images", {"for": "message"}).status == 303
