"""What a login leaves behind and how it may be written, on every protocol: the account's last
login is recorded, and with ``server.login_domain`` a bare name logs in as name@domain."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
from collections.abc import Iterator

import pytest

from tests.support.server import RunningServer, server_config, wait_for
from tests.support.tls import insecure_context


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(server_config(tmp_path_factory.mktemp("logins"), extra=[
        "server.login_domain=example.test", "smtp.submissions.enabled=true",
        "smtp.submissions.port=0", "pop3.pop3s.enabled=true", "pop3.pop3s.port=0"]))
    yield server
    server.stop()


def last_login(srv: RunningServer, address: str) -> int | None:
    rec = srv.call(srv.services.directory.require_account(address))
    return rec.last_login


def test_bare_names_and_last_login_on_every_protocol(srv: RunningServer) -> None:
    address, password = srv.add_user("bare")
    bare = address.split("@")[0]
    assert last_login(srv, address) is None
    imap = imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=insecure_context())
    assert imap.login(bare, password)[0] == "OK"
    imap.logout()
    wait_for(lambda: last_login(srv, address) is not None, what="last_login recorded")
    pop = poplib.POP3_SSL("127.0.0.1", srv.port("pop3s"), context=insecure_context())
    pop.user(bare)
    assert pop.pass_(password).startswith(b"+OK")
    pop.quit()
    with smtplib.SMTP_SSL("127.0.0.1", srv.port("submissions"),
                          context=insecure_context()) as s:
        assert s.login(bare, password)[0] == 235
    # a wrong password still fails
    imap = imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=insecure_context())
    with pytest.raises(imaplib.IMAP4.error):
        imap.login(bare, "wrong")
