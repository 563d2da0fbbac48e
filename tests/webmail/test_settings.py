"""Webmail's settings (/webmail/settings): every setting saved and shown again, refused values
422 with the message next to the field and the values kept, image senders listed and
forgotten, the account pages (/me) in webmail's frame, and MultiPOP through the admin service
(/webmail/settings/multipop)."""

from __future__ import annotations

import re

import pytest

from postroom.core.actor import Actor
from postroom.services.webmail.prefs import Prefs
from tests.support.web import WebClient
from tests.support.webmail import PASSWORD, Webmail
from tests.support.webmail_manage import webmail_of

ALICE = "alice@settings.test"
BOB = "bob@settings.test"
GOOD = {"signature": "-- \r\nAlice", "density": "compact", "timezone": "Europe/Paris",
        "language": "en", "page_size": "25", "identity": "", "threads": "on",
        "rich_text": "on"}


@pytest.fixture(scope="module")
def alice(mail: Webmail) -> WebClient:
    mail.account(ALICE)
    mail.account(BOB)
    web = mail.client(ALICE)
    assert web.get("/webmail/settings").status == 200
    return web


def test_settings_are_saved_and_shown(mail: Webmail, alice: WebClient) -> None:
    page = alice.post("/webmail/settings", GOOD)
    assert page.status == 303 and page.location == "/webmail/settings", page.text
    page = alice.follow(page)
    assert "Settings saved." in page.text
    assert '<option value="Europe/Paris" selected>' in page.text
    assert '<option value="compact" selected>' in page.text
    assert 'body class="wm density-compact"' in page.text
    assert ">-- \nAlice</textarea>" in page.text
    assert 'value="25"' in page.text
    assert re.search(r'id="f-threads" name="threads" type="checkbox" checked', page.text)
    prefs = mail.server.call(_prefs(mail, ALICE))
    assert (prefs.timezone, prefs.page_size, prefs.threads, prefs.rich_text,
            prefs.signature) == ("Europe/Paris", 25, True, True, "-- \nAlice")
    # switched off again: unticked boxes are not sent
    page = alice.post("/webmail/settings", {**GOOD, "threads": "", "rich_text": "",
                                            "page_size": ""})
    assert page.status == 303
    prefs = mail.server.call(_prefs(mail, ALICE))
    assert (prefs.threads, prefs.rich_text, prefs.page_size) == (False, False, 0)


async def _prefs(mail: Webmail, address: str) -> Prefs:
    services = mail.server.services
    rec = await services.directory.require_account(address)
    return await webmail_of(mail).prefs.get(await services.directory.principal_for(rec))


@pytest.mark.parametrize("field, value, word", [
    ("timezone", "Mars/Olympus_Mons", "unknown time zone"),
    ("density", "huge", "density is comfortable or compact"),
    ("language", "tlh", "no strings for the language"),
    ("page_size", "5", "messages per page"),
    ("page_size", "abc", "messages per page"),
    ("page_size", "99999999", "messages per page"),
    ("identity", "ceo@elsewhere.test", "you may not send as"),
])
def test_refused_values_are_422_next_to_their_field(alice: WebClient, field: str,
                                                    value: str, word: str) -> None:
    page = alice.post("/webmail/settings", {**GOOD, field: value})
    assert page.status == 422, page.text
    assert word in page.text
    assert f'id="f-{field}-error"' in page.text and 'aria-invalid="true"' in page.text
    assert ">-- \r\nAlice</textarea>" in page.text or ">-- \nAlice</textarea>" in page.text


def test_signature_limit(mail: Webmail, alice: WebClient) -> None:
    most = webmail_of(mail).config.signature_max
    assert alice.post("/webmail/settings", {**GOOD, "signature": "x" * most}).status == 303
    page = alice.post("/webmail/settings", {**GOOD, "signature": "y" * (most + 1)})
    assert page.status == 422 and "signature is longer than" in page.text
    assert 'id="f-signature-error"' in page.text and "y" * (most + 1) in page.text
    # far beyond: refused while the form is read
    assert alice.post("/webmail/settings", {**GOOD, "signature": "z" * (3 * most)}
                      ).status == 413


def test_own_identity_is_accepted(alice: WebClient) -> None:
    assert alice.post("/webmail/settings", {**GOOD, "identity": ALICE}).status == 303
    page = alice.get("/webmail/settings").text
    assert '<option value="" selected>My own address (alice@settings.test)' in page


def test_granted_identities_are_offered_and_accepted(mail: Webmail, alice: WebClient) -> None:
    """An address an administrator granted (``send-as``) is offered and may be the default;
    the rule is the one submission applies (services/senders.py)."""
    mail.server.call(mail.server.services.admin.users.grant_send_as(
        Actor.operator(), ALICE, "sales@settings.test", True))
    page = alice.get("/webmail/settings").text
    assert '<option value="sales@settings.test">' in page
    assert alice.post("/webmail/settings", {**GOOD, "identity": "sales@settings.test"}
                      ).status == 303
    page = alice.get("/webmail/settings").text
    assert '<option value="sales@settings.test" selected>' in page
    assert alice.post("/webmail/settings", {**GOOD, "identity": "boss@settings.test"}
                      ).status == 422


def test_bad_requests_are_4xx(alice: WebClient) -> None:
    assert alice.post("/webmail/settings", GOOD, csrf=False).status == 403
    page = alice.request("POST", "/webmail/settings", b"{}",
                         {"Content-Type": "application/json", "X-CSRF-Token": alice.csrf})
    assert page.status == 415
    assert alice.post("/webmail/settings/images/forget", {}).status == 422
    assert alice.post("/webmail/settings/images/forget", {"address": "x"},
                      csrf=False).status == 403
    assert alice.get("/webmail/settings/images/forget").status == 405


def test_image_senders_listed_and_forgotten(mail: Webmail, alice: WebClient) -> None:
    services = mail.server.services

    async def allow() -> None:
        rec = await services.directory.require_account(ALICE)
        await webmail_of(mail).prefs.allow_images_from(
            await services.directory.principal_for(rec), "news@shop.test")
    mail.server.call(allow())
    page = alice.get("/webmail/settings")
    assert "news@shop.test" in page.text
    assert "Stop showing images from news@shop.test" in page.text
    page = alice.post("/webmail/settings/images/forget", {"address": "news@shop.test"})
    assert page.status == 303
    assert "news@shop.test" not in alice.follow(page).text.split("Images from")[0]


def test_account_pages_render_in_webmail_and_work(mail: Webmail) -> None:
    carol = mail.account("carol@settings.test")
    web = mail.client(carol)
    page = web.get("/webmail/settings")
    for link in ("/me/password", "/me/2fa", "/me/app-passwords", "/me/sessions"):
        assert f'href="{link}"' in page.text
        shown = web.get(link)
        assert shown.status == 200, link
        assert 'href="/webmail/settings"' in shown.text and 'href="/webmail/"' in shown.text
    page = web.post("/me/password", {"current": PASSWORD, "new": "a-new-pw-7654321",
                                     "again": "a-new-pw-7654321"})
    assert page.status == 303, page.text
    again = mail.client(carol, "a-new-pw-7654321")
    assert again.get("/webmail/settings").status == 200


def test_multipop_in_the_webmail_frame(mail: Webmail, alice: WebClient) -> None:
    page = alice.get("/webmail/settings/multipop")
    assert page.status == 200
    assert 'id="folder-tree"' in page.text and "Collect mail from other mailboxes" in page.text
    fields = {"host": "pop.remote.test", "username": "alice", "password": "remote-pw",
              "tls": "implicit", "port": "", "folder": "INBOX", "interval": "600",
              "delete_after_days": ""}
    page = alice.post("/webmail/settings/multipop", {**fields, "host": ""})
    assert page.status == 422 and 'id="f-host-error"' in page.text
    assert 'id="folder-tree"' in page.text  # still webmail's frame
    page = alice.post("/webmail/settings/multipop", {**fields, "port": "70000"})
    assert page.status == 422 and 'value="pop.remote.test"' in page.text
    page = alice.post("/webmail/settings/multipop", fields)
    assert page.status == 303 and page.location == "/webmail/settings/multipop", page.text
    remotes = mail.server.call(mail.server.services.admin.multipop.list(Actor.operator(),
                                                                        ALICE))
    assert [r.host for r in remotes] == ["pop.remote.test"]
    rid = remotes[0].id
    assert "alice at pop.remote.test" in alice.follow(page).text
    assert "1 remote mailboxes" in alice.get("/webmail/settings").text
    page = alice.get(f"/webmail/settings/multipop/{rid}")
    assert page.status == 200 and 'id="folder-tree"' in page.text
    page = alice.post(f"/webmail/settings/multipop/{rid}", {"interval": "1200",
                                                            "folder": "INBOX"})
    assert page.status == 303, page.text
    page = alice.post("/webmail/settings/multipop/enable", {"id": str(rid), "enabled": "0"})
    assert page.status == 303
    # bob cannot see or change alice's remote mailbox: the same 404 as a missing one
    bob = mail.client(BOB)
    bob.get("/webmail/settings/multipop")
    for target in (str(rid), "987654"):
        assert bob.get(f"/webmail/settings/multipop/{target}").status == 404
        assert bob.post("/webmail/settings/multipop/remove", {"id": target}).status == 404
    assert bob.get("/webmail/settings/multipop/junk").status == 422
    assert alice.post("/webmail/settings/multipop/remove", {"id": "x"}).status == 422
    assert alice.post("/webmail/settings/multipop/remove", {"id": str(rid)},
                      csrf=False).status == 403
    page = alice.post("/webmail/settings/multipop/remove", {"id": str(rid)})
    assert page.status == 303
    assert not mail.server.call(mail.server.services.admin.multipop.list(Actor.operator(),
                                                                         ALICE))
