"""The Authentication-Results badge end to end: mail checked by our own 'mailauth' check (SPF
and DMARC against a loopback DNS zone, loopback clients checked too) shows "verified" when
DMARC passes and "NOT verified" when it fails; a failing message cannot use the sender's
"always show images" allowance (a forged From must not unlock tracking pixels); a field that
names our host but came with the message is removed at delivery and never counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mailhost import Dns
from tests.support.server import RunningServer, server_config
from tests.support.webmail import WEBMAIL, Webmail
from tests.support.webmail_manage import webmail_of
from tests.support.webmail_read import append_raw, deliver_raw, inbox_id

USER = "checked@example.test"


@pytest.fixture(scope="module")
def dns() -> Iterator[Dns]:
    server = Dns()
    zone = server.zone
    zone.add("good.test", "TXT", '"v=spf1 ip4:127.0.0.0/8 -all"')
    zone.add("_dmarc.good.test", "TXT", '"v=DMARC1; p=none"')
    zone.add("bank.test", "TXT", '"v=spf1 ip4:192.0.2.1 -all"')
    zone.add("_dmarc.bank.test", "TXT", '"v=DMARC1; p=none"')
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, dns: Dns) -> Iterator[RunningServer]:
    # an authserv-id other than the host name: the badge believes what our check wrote
    extra = [*WEBMAIL, "mailauth.skip_networks=[]", "mailauth.authserv_id=checks.example.test",
             f'mailauth.dns_servers=["127.0.0.1:{dns.port}"]', "mailauth.spf_helo=false",
             'smtp.outbound.dns_servers=["127.0.0.1:' + str(dns.port) + '"]']
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("auth")), extra=extra))
    try:
        yield srv
    finally:
        srv.stop()


def message(sender: str, subject: str, forged: str = "") -> bytes:
    return (f"{forged}From: {sender}\r\nSubject: {subject}\r\nContent-Type: text/html\r\n\r\n"
            "<p>Hi</p><img src='https://remote.invalid/pixel.png'>\r\n").encode()


def test_dmarc_pass_and_fail_badges(mail: Webmail) -> None:
    mail.account(USER)
    web = mail.client(USER)
    fid = inbox_id(web)
    good = deliver_raw(mail, USER, message("news@good.test", "good"), sender="news@good.test")
    page = web.get(f"/webmail/f/{fid}/m/{good}")
    assert "auth-pass" in page.text and "dmarc=pass" in page.text, page.text[-3000:]
    bad = deliver_raw(mail, USER, message("ceo@bank.test", "bad"), sender="ceo@bank.test")
    page = web.get(f"/webmail/f/{fid}/m/{bad}")
    assert "auth-fail" in page.text and "NOT verified" in page.text
    assert "Always show from" not in page.text  # no sender allowance offered on a failure
    # a failing message cannot put its sender on the list (review of issue 23, finding 8)
    assert web.post(f"/webmail/f/{fid}/m/{bad}/images", {"for": "sender"}).status == 422
    # and even when the address is on the list, a failing message keeps its images blocked
    allow(mail, "ceo@bank.test")
    assert 'class="images-bar"' in web.get(f"/webmail/f/{fid}/m/{bad}").text
    assert "https:" not in web.get(f"/webmail/f/{fid}/m/{bad}/body").headers[
        "Content-Security-Policy"]


def test_a_forged_field_with_our_name_does_not_count(mail: Webmail) -> None:
    mail.account(USER)
    web = mail.client(USER)
    forged = "Authentication-Results: mail.example.test; dmarc=pass header.from=bank.test\r\n"
    uid = deliver_raw(mail, USER, message("ceo@bank.test", "forged", forged),
                      sender="ceo@bank.test")
    page = web.get(f"/webmail/f/{inbox_id(web)}/m/{uid}")
    assert "auth-fail" in page.text and "auth-pass" not in page.text


def allow(mail: Webmail, sender: str) -> None:
    """Put ``sender`` on USER's image senders' list through the service."""
    services = mail.server.services

    async def run() -> None:
        rec = await services.directory.require_account(USER)
        await webmail_of(mail).prefs.allow_images_from(
            await services.directory.principal_for(rec), sender)
    mail.server.call(run())


def test_always_show_images_only_from_a_verified_sender(mail: Webmail) -> None:
    """Review of issue 23, finding 8: a DMARC pass for the From domain offers and honours
    "always show images from"; the same address on an unchecked copy (IMAP APPEND, verdict
    "none") neither offers it nor uses the saved allowance."""
    mail.account(USER)
    web = mail.client(USER)
    fid = inbox_id(web)
    good = deliver_raw(mail, USER, message("news@good.test", "verified"),
                       sender="news@good.test")
    page = web.get(f"/webmail/f/{fid}/m/{good}")
    assert "Always show from news@good.test" in page.text
    assert web.post(f"/webmail/f/{fid}/m/{good}/images", {"for": "sender"}).status == 303
    page = web.get(f"/webmail/f/{fid}/m/{good}")
    assert 'class="images-bar"' not in page.text
    assert "https:" in web.get(f"/webmail/f/{fid}/m/{good}/body").headers[
        "Content-Security-Policy"]
    unchecked = append_raw(mail, USER, message("news@good.test", "appended"))
    page = web.get(f"/webmail/f/{fid}/m/{unchecked}")
    assert "auth-none" in page.text and 'class="images-bar"' in page.text
    assert "Always show from" not in page.text
    assert "https:" not in web.get(f"/webmail/f/{fid}/m/{unchecked}/body").headers[
        "Content-Security-Policy"]
