"""ODMR provider side on the real listener (RFC 2645; specs.md §5 [TEST] lines and more)."""

from __future__ import annotations

import pytest

from tests.protocol.odmr.conftest import ODMR_EXTRA, Gateway
from tests.support.odmr import OdmrClient, ScriptedCustomer
from tests.support.server import RunningServer, server_config, wait_for


def test_ehlo_lists_auth_and_atrn(gateway: Gateway) -> None:
    c = OdmrClient(gateway.srv.port("odmr"))
    assert c.greeting.startswith(b"220 ")
    code, lines = c.cmd("EHLO customer.test")
    assert code == 250 and "ATRN" in lines and "STARTTLS" in lines
    auth = next(x for x in lines if x.startswith("AUTH "))
    # before TLS only the mechanisms that never send the password
    assert auth.split()[1:] == ["CRAM-MD5", "SCRAM-SHA-256"]


def test_atrn_before_auth_is_530(gateway: Gateway) -> None:
    c = gateway.connect()
    assert c.cmd(f"ATRN {gateway.domain}")[0] == 530
    assert c.cmd("ATRN")[0] == 530


def test_unauthorised_domain_is_450(gateway: Gateway, odmr_server: RunningServer) -> None:
    other = Gateway(odmr_server)
    c = gateway.login()
    code, lines = c.cmd(f"ATRN {other.domain}")
    assert code == 450 and other.domain in lines[0]
    # one unauthorised domain in a list refuses the whole request
    assert c.cmd(f"ATRN {gateway.domain},{other.domain}")[0] == 450
    assert c.cmd("ATRN not-a-domain!")[0] == 501


def test_nothing_waiting_is_453(gateway: Gateway) -> None:
    c = gateway.login()
    code, lines = c.cmd(f"ATRN {gateway.domain}")
    assert code == 453 and "no mail" in lines[0].lower()
    assert c.cmd("QUIT")[0] == 221


def test_mail_transaction_commands_are_refused(gateway: Gateway) -> None:
    c = gateway.login()
    for command in ("MAIL FROM:<a@example.org>", f"RCPT TO:<x@{gateway.domain}>", "DATA",
                    "VRFY x", "ETRN x"):
        assert c.cmd(command)[0] == 502, command
    assert c.cmd("NOOP")[0] == 250 and c.cmd("RSET")[0] == 250


def test_held_mail_waits_and_atrn_delivers_and_dequeues(gateway: Gateway) -> None:
    gateway.send("alice", subject="one")
    gateway.send("bob", "carol", subject="two")
    states = gateway.queued()
    assert len(states) == 2 and {s for s, _ in states} == {"atrn"}
    c = gateway.login()
    code, lines = c.cmd(f"ATRN {gateway.domain}")
    assert code == 250, lines
    customer = ScriptedCustomer(c)
    customer.serve()
    assert customer.quit_seen
    got = {tuple(m.recipients) for m in customer.messages}
    assert got == {(f"alice@{gateway.domain}",),
                   (f"bob@{gateway.domain}", f"carol@{gateway.domain}")}
    one = next(m for m in customer.messages if m.recipients == [f"alice@{gateway.domain}"])
    assert b"Subject: one" in one.data and b"\r\n.leading dot\r\n" in one.data
    assert one.data.startswith(b"Received: ")
    wait_for(lambda: gateway.queued() == [])
    assert c.closed()


def test_atrn_without_argument_means_all_my_domains(gateway: Gateway,
                                                    odmr_server: RunningServer) -> None:
    second = f"more-{gateway.domain}"
    odmr_server.call(odmr_server.services.gateways.add(second, atrn_users=[gateway.user]))
    gateway.send("a")
    with __import__("smtplib").SMTP("127.0.0.1", odmr_server.port("smtp")) as s:
        s.sendmail("a@example.org", [f"b@{second}"], b"Subject: s\r\n\r\nx\r\n")
    c = gateway.login()
    assert c.cmd("ATRN")[0] == 250
    customer = ScriptedCustomer(c, chunking=True)
    customer.serve()
    assert sorted(m.recipients[0] for m in customer.messages) == \
        [f"a@{gateway.domain}", f"b@{second}"]


def test_chunking_is_used_when_offered(gateway: Gateway) -> None:
    gateway.send("alice", subject="chunked")
    c = gateway.login()
    assert c.cmd(f"ATRN {gateway.domain}")[0] == 250
    customer = ScriptedCustomer(c, chunking=True)
    customer.serve()
    assert len(customer.messages) == 1 and b"\r\n.leading dot\r\n" in customer.messages[0].data
    wait_for(lambda: gateway.queued() == [])


def test_dropped_link_leaves_the_rest_queued(gateway: Gateway) -> None:
    for i in range(4):
        gateway.send(f"u{i}", subject=f"m{i}")
    c = gateway.login()
    assert c.cmd(f"ATRN {gateway.domain}")[0] == 250
    customer = ScriptedCustomer(c, drop_after=2)  # takes one, drops while the second ends
    customer.serve()
    assert len(customer.messages) == 1
    # held again (not sent by MX), all three, once the provider has seen the link go
    wait_for(lambda: [s for s, _ in gateway.queued()] == ["atrn"] * 3)
    # the next collection gets exactly the three that were not acknowledged
    c2 = gateway.login()
    assert c2.cmd(f"ATRN {gateway.domain}")[0] == 250
    again = ScriptedCustomer(c2)
    again.serve()
    first = customer.messages[0].recipients[0]
    assert sorted(m.recipients[0] for m in again.messages) == \
        sorted(f"u{i}@{gateway.domain}" for i in range(4) if f"u{i}@{gateway.domain}" != first)
    wait_for(lambda: gateway.queued() == [])


def test_customer_4xx_stays_queued_and_5xx_bounces(gateway: Gateway) -> None:
    gateway.send("later", "never", "fine")
    c = gateway.login()
    assert c.cmd(f"ATRN {gateway.domain}")[0] == 250
    customer = ScriptedCustomer(c, defer={f"later@{gateway.domain}"},
                                reject={f"never@{gateway.domain}"})
    customer.serve()
    assert [m.recipients for m in customer.messages] == [[f"fine@{gateway.domain}"]]
    wait_for(lambda: gateway.queued() == [("atrn", (f"later@{gateway.domain}",))])
    # the 550 produced a bounce to the (remote) sender: a notice entry, not for this domain
    rows = gateway.srv.call(gateway.srv.services.store.queue.list())
    assert any(r.sender == "" and r.recipients == ("a@example.org",) for r in rows)


def test_plain_needs_tls_and_works_inside_it(gateway: Gateway) -> None:
    c = gateway.connect()
    assert c.plain(gateway.user, gateway.password) == 504  # not offered in clear
    assert c.cmd("STARTTLS")[0] == 220
    c.upgrade()
    _, lines = c.cmd("EHLO customer.test")
    auth = next(x for x in lines if x.startswith("AUTH "))
    assert "PLAIN" in auth and "STARTTLS" not in lines
    assert c.cmd(f"ATRN {gateway.domain}")[0] == 530  # STARTTLS forgot the earlier state
    assert c.plain(gateway.user, gateway.password) == 235
    assert c.cmd(f"ATRN {gateway.domain}")[0] == 453


def test_wrong_cram_md5_secret_fails(gateway: Gateway) -> None:
    c = gateway.connect()
    assert c.cram_md5(gateway.user, "not-the-secret") == 535
    assert c.cmd(f"ATRN {gateway.domain}")[0] == 530


def test_account_without_challenge_secret_cannot_use_cram_md5(
        odmr_server: RunningServer) -> None:
    user, _ = odmr_server.add_user()
    c = OdmrClient(odmr_server.port("odmr"))
    c.cmd("EHLO x.test")
    assert c.cram_md5(user, "") == 535


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> RunningServer:
    extra = [x for x in ODMR_EXTRA if not x.startswith("odmr.auth_without_tls")]
    srv = RunningServer(server_config(tmp_path_factory.mktemp("odmr-strict"), extra=extra))
    yield srv  # type: ignore[misc]
    srv.stop()


def test_default_offers_no_auth_before_tls(strict_server: RunningServer) -> None:
    gw = Gateway(strict_server)
    c = OdmrClient(strict_server.port("odmr"))
    code, lines = c.cmd("EHLO customer.test")
    assert code == 250 and "ATRN" in lines and not any(x.startswith("AUTH") for x in lines)
    assert c.cmd("AUTH CRAM-MD5")[0] == 538
    assert c.cmd("STARTTLS")[0] == 220
    c.upgrade()
    c.cmd("EHLO customer.test")
    assert c.cram_md5(gw.user, gw.secret) == 235
    assert c.cmd(f"ATRN {gw.domain}")[0] == 453


def _age(srv: RunningServer, domain: str, seconds: int) -> None:
    """Make the entries held for ``domain`` look ``seconds`` old and due for review."""
    def fn(tx: object) -> None:
        tx.execute("UPDATE queue SET created_at = created_at - ?, next_attempt = 0 "  # type: ignore[attr-defined]
                   "WHERE hold_domain = ?", (seconds, domain))
    srv.call(srv.services.store.engine.write(fn))
    assert srv.server.queue is not None
    srv.server.queue.wake()


def test_held_mail_gets_a_delay_notice_then_bounces(gateway: Gateway) -> None:
    srv = gateway.srv
    gateway.send("late", subject="aging")
    rows = srv.call(srv.services.store.queue.list())

    def notices() -> list[bytes]:
        out = []
        for r in srv.call(srv.services.store.queue.list()):
            if r.sender == "" and r.recipients == ("a@example.org",):
                out.append(srv.services.store.blobs.read(r.blob))
        return out
    before = len(notices())
    _age(srv, gateway.domain, 5 * 3600)  # past the 4-hour delay warning
    wait_for(lambda: len(notices()) == before + 1)
    assert b"Action: delayed" in notices()[-1]
    assert [s for s, _ in gateway.queued()] == ["atrn"]  # still held, still collectable
    _age(srv, gateway.domain, 5 * 86400)  # past max_queue_time
    wait_for(lambda: gateway.queued() == [])
    assert b"Action: failed" in notices()[-1]
    assert rows  # the entry existed before it expired


def test_an_admin_retry_does_not_send_held_mail_by_mx(gateway: Gateway) -> None:
    srv = gateway.srv
    gateway.send("retry")
    (entry,) = [r for r in srv.call(srv.services.store.queue.list())
                if r.hold_domain == gateway.domain]
    srv.call(srv.services.store.queue.set_state(entry.id, "ready"))  # 'postroom queue retry'
    assert srv.server.queue is not None
    srv.server.queue.wake()
    wait_for(lambda: [s for s, _ in gateway.queued()] == ["atrn"])
    row = srv.call(srv.services.store.queue.get(entry.id))
    assert "held for" in row.last_error
