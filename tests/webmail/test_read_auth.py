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
from tests.support.webmail_read import deliver_raw, inbox_id

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
    # even when the address is on the list, a failing message keeps its images blocked
    assert web.post(f"/webmail/f/{fid}/m/{bad}/images", {"for": "sender"}).status == 303
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
