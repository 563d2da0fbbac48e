"""App passwords over real mail sockets (docs/web.md "App passwords"): without a second
factor both the account password and app passwords log in; with TOTP on, only app passwords
do, on IMAP, POP3 and SMTP AUTH alike; a revoked app password stops working at once although
the login cache remembered it."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
from collections.abc import Iterator

import pyotp
import pytest

from postroom.core.actor import Actor, Origin
from tests.protocol.test_sasl import Framed, scram_plus
from tests.support.server import RunningServer, server_config
from tests.support.tls import insecure_context


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(server_config(tmp_path_factory.mktemp("apppw"), extra=[
        "smtp.submissions.enabled=true", "smtp.submissions.port=0",
        "pop3.pop3s.enabled=true", "pop3.pop3s.port=0", "limits.auth_failures_per_ip=1000",
        "limits.max_line_length=4096"]))
    yield server
    server.stop()


def imap_ok(srv: RunningServer, user: str, password: str) -> bool:
    imap = imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=insecure_context())
    try:
        imap.login(user, password)
    except imaplib.IMAP4.error:
        return False
    imap.logout()
    return True


def pop_ok(srv: RunningServer, user: str, password: str) -> bool:
    pop = poplib.POP3_SSL("127.0.0.1", srv.port("pop3s"), context=insecure_context())
    try:
        pop.user(user)
        pop.pass_(password)
    except poplib.error_proto:
        return False
    pop.quit()
    return True


def smtp_ok(srv: RunningServer, user: str, password: str) -> bool:
    """SMTP AUTH with PLAIN and with LOGIN (RFC 4954); True when both succeed."""
    results = []
    for mechanism in ("PLAIN", "LOGIN"):
        with smtplib.SMTP_SSL("127.0.0.1", srv.port("submissions"),
                              context=insecure_context()) as s:
            s.ehlo()
            s.user, s.password = user, password
            try:
                s.auth(mechanism, s.auth_plain if mechanism == "PLAIN" else s.auth_login)
                results.append(True)
            except smtplib.SMTPAuthenticationError:
                results.append(False)
    assert results[0] == results[1]
    return results[0]


def works(srv: RunningServer, user: str, password: str) -> list[bool]:
    return [imap_ok(srv, user, password), pop_ok(srv, user, password),
            smtp_ok(srv, user, password)]


def test_app_passwords_with_and_without_a_second_factor(srv: RunningServer) -> None:
    address, password = srv.add_user("apps")
    rec = srv.call(srv.services.directory.require_account(address))
    actor = Actor(srv.call(srv.services.directory.principal_for(rec)),
                  Origin("webadmin", "127.0.0.1"))
    app, app_password = srv.call(srv.services.app_passwords.create(actor, "phone"))
    assert works(srv, address, password) == [True, True, True]
    assert works(srv, address, app_password) == [True, True, True]

    enrolment = srv.call(srv.services.two_factor.begin(actor.principal))
    srv.call(srv.services.two_factor.confirm(actor, pyotp.TOTP(enrolment.secret).now()))
    assert works(srv, address, password) == [False, False, False]  # the cache knew it too
    assert works(srv, address, app_password) == [True, True, True]
    listed = srv.call(srv.services.app_passwords.list(actor))
    assert listed[0].last_used is not None

    srv.call(srv.services.app_passwords.revoke(actor, app.id))
    assert works(srv, address, app_password) == [False, False, False]


@pytest.mark.parametrize("protocol", ["imap", "smtp", "pop3"])
def test_scram_uses_the_own_password_so_two_factor_closes_it(srv: RunningServer,
                                                             protocol: str) -> None:
    """SCRAM keys derive from the account password: with TOTP on they are refused (PLAIN or
    LOGIN with an app password is the way), on every protocol's AUTH."""
    address, password = srv.add_user("scram")
    f = Framed(srv, protocol)
    assert f.succeeded(scram_plus(f, address, password, f.channel_binding()))
    rec = srv.call(srv.services.directory.require_account(address))
    actor = Actor(srv.call(srv.services.directory.principal_for(rec)),
                  Origin("webadmin", "127.0.0.1"))
    enrolment = srv.call(srv.services.two_factor.begin(actor.principal))
    srv.call(srv.services.two_factor.confirm(actor, pyotp.TOTP(enrolment.secret).now()))
    f = Framed(srv, protocol)
    assert not f.succeeded(scram_plus(f, address, password, f.channel_binding()))
