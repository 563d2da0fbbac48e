"""SPF, DKIM, DMARC end to end (docs/mailauth.md): mail sent over SMTP to a real server whose
``mailauth`` check asks a real loopback DNS server; the result read back over IMAP from the
delivered message's one Authentication-Results field.

The client is 127.0.0.1, so the records name that address; ``mailauth.skip_networks`` is
emptied here (loopback is skipped by default as local injection).
"""

from __future__ import annotations

import imaplib
import re
import smtplib
from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest

from tests.support.authmail import AuthDns, DkimKey, message
from tests.support.logs import server_log
from tests.support.server import RunningServer, server_config
from tests.support.tls import insecure_context

HOST = "mail.example.test"  # authserv-id: server.hostname in server_config


@pytest.fixture(scope="module")
def dns() -> Iterator[AuthDns]:
    d = AuthDns()
    t = d.txt
    t("spf-pass.test", "v=spf1 ip4:127.0.0.1 -all")
    t("spf-fail.test", "v=spf1 ip4:192.0.2.1 -all")
    t("spf-soft.test", "v=spf1 ip4:192.0.2.1 ~all")
    t("spf-neutral.test", "v=spf1 ?all")
    d.zone.add("spf-none.test", "A", "192.0.2.7")  # a domain with no SPF record
    d.zone.servfail.add("spf-temp.test")
    t("spf-perm.test", "v=spf1 ip4:127.0.0.1/33 -all")
    # DKIM signers, with SPF records that never pass for 127.0.0.1
    for domain in ("dk.test", "dm-dkim.test", "dm-reject.test", "dm-quar.test",
                   "dm-none.test", "dm-strict.test"):
        t(domain, "v=spf1 -all")
    t("_dmarc.dm-spf.test", "v=DMARC1; p=reject")
    t("dm-spf.test", "v=spf1 ip4:127.0.0.1 -all")
    t("_dmarc.dm-dkim.test", "v=DMARC1; p=reject")
    t("_dmarc.dm-reject.test", "v=DMARC1; p=reject; rua=mailto:dmarc@dm-reject.test")
    t("_dmarc.dm-quar.test", "v=DMARC1; p=quarantine")
    t("_dmarc.dm-none.test", "v=DMARC1; p=none")
    t("_dmarc.dm-strict.test", "v=DMARC1; p=reject; adkim=s")
    d.zone.servfail.add("_dmarc.dm-temp.test")
    d.zone.servfail.add("flaky._domainkey.dm-reject.test")
    t("dm-temp.test", "v=spf1 ip4:127.0.0.1 -all")
    yield d
    d.stop()


@pytest.fixture(scope="module")
def keys(dns: AuthDns) -> dict[str, DkimKey]:
    out = {}
    for domain in ("dk.test", "dm-dkim.test", "mail.dm-dkim.test", "mail.dm-strict.test"):
        key = DkimKey("sel", domain)
        dns.txt(key.name, key.record)
        out[domain] = key
    out["missing"] = DkimKey("gone", "dk.test")  # no record published
    return out


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, dns: AuthDns) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("mailauth")
    server = RunningServer(server_config(data, extra=[
        "smtp.mx.enabled=true", "smtp.mx.port=0", "smtp.submission.enabled=true",
        "smtp.submission.port=0", f'smtp.outbound.dns_servers=["127.0.0.1:{dns.port}"]',
        "mailauth.skip_networks=[]", "mailauth.dns_timeout=2"]))
    yield server
    server.stop()


def send(srv: RunningServer, sender: str, data: bytes, to: str,
         helo: str = "client.helo.test") -> tuple[int, str]:
    """(code, text) of the first refusal, or of the final reply to the data."""
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), local_hostname=helo) as s:
        s.ehlo()
        code, text = s.mail(sender)
        if code != 250:
            return code, text.decode()
        code, text = s.rcpt(to)
        if code != 250:
            return code, text.decode()
        code, text = s.data(data)
        return code, text.decode()


def fetch(srv: RunningServer, user: tuple[str, str], folder: str = "INBOX") -> list[bytes]:
    m = imaplib.IMAP4(host="127.0.0.1", port=srv.port("imap"))
    m.starttls(insecure_context())
    m.login(*user)
    count = int(m.select(folder)[1][0] or 0)
    _, data = m.fetch("1:*", "(BODY.PEEK[])") if count else ("", [])
    m.logout()
    return [part[1] for part in data if isinstance(part, tuple)]


def auth_results(raw: bytes) -> list[str]:
    """Every Authentication-Results field of a message, unfolded."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    fields = re.findall(r"^Authentication-Results:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head,
                        re.MULTILINE | re.IGNORECASE)
    return [re.sub(r"\r\n[ \t]", " ", f).strip() for f in fields]


def deliver(srv: RunningServer, sender: str, data: bytes | None = None,
            folder: str = "INBOX", others: int = 0) -> str:
    """Send, expect 250, return our one Authentication-Results field, on top of ``others``
    (other hosts' fields, which stay)."""
    user = srv.add_user("auth")
    code, text = send(srv, sender, data or message(sender or "x@spf-none.test", user[0]),
                      user[0])
    assert code == 250, text
    got = fetch(srv, user, folder)
    assert len(got) == 1
    fields = auth_results(got[0])
    assert len(fields) == 1 + others, fields
    assert fields[0].startswith(HOST + ";")
    return fields[0]


@pytest.mark.parametrize(("domain", "result"), [
    ("spf-pass.test", "pass"), ("spf-fail.test", "fail"), ("spf-soft.test", "softfail"),
    ("spf-neutral.test", "neutral"), ("spf-none.test", "none"),
    ("spf-perm.test", "permerror")])
def test_spf_result_of_the_mail_from_domain(srv: RunningServer, domain: str, result: str,
                                            ) -> None:
    field = deliver(srv, f"someone@{domain}")
    assert f"spf={result}" in field and f"smtp.mailfrom=someone@{domain}" in field


def test_spf_temperror_defers_at_mail_from(srv: RunningServer) -> None:
    user = srv.add_user("auth")
    code, text = send(srv, "someone@spf-temp.test", message("a@spf-temp.test", user[0]),
                      user[0])
    assert code == 451 and "SPF" in text


def test_spf_fail_is_refused_when_configured(tmp_path: Path, dns: AuthDns) -> None:
    server = RunningServer(server_config(tmp_path, extra=[
        "smtp.mx.enabled=true", "smtp.mx.port=0",
        f'smtp.outbound.dns_servers=["127.0.0.1:{dns.port}"]',
        "mailauth.skip_networks=[]", "mailauth.spf_fail=\"reject\""]))
    try:
        user = server.add_user("auth")
        code, text = send(server, "x@spf-fail.test", message("x@spf-fail.test", user[0]),
                          user[0])
        assert code == 550 and "5.7.1" in text and "SPF" in text
    finally:
        server.stop()


def test_dkim_pass(srv: RunningServer, keys: dict[str, DkimKey]) -> None:
    data = keys["dk.test"].sign(message("a@dk.test", "rcpt@example.test"))
    field = deliver(srv, "a@spf-pass.test", data)
    assert "dkim=pass" in field and "header.d=dk.test" in field and "header.s=sel" in field


def test_dkim_fail_body_changed(srv: RunningServer, keys: dict[str, DkimKey]) -> None:
    data = keys["dk.test"].sign(message("a@dk.test", "rcpt@example.test"))
    field = deliver(srv, "a@spf-pass.test", data.replace(b"Hello there.", b"Hello thar!"))
    assert "dkim=fail (the body changed after signing)" in field


def test_dkim_fail_header_changed(srv: RunningServer, keys: dict[str, DkimKey]) -> None:
    data = keys["dk.test"].sign(message("a@dk.test", "rcpt@example.test"))
    field = deliver(srv, "a@spf-pass.test", data.replace(b"Subject: Hello",
                                                         b"Subject: Hullo"))
    assert "dkim=fail (a signed header field changed)" in field


def test_dkim_expired(srv: RunningServer, keys: dict[str, DkimKey]) -> None:
    data = keys["dk.test"].sign(message("a@dk.test", "rcpt@example.test"), expired=True)
    field = deliver(srv, "a@spf-pass.test", data)
    assert "dkim=permerror (signature expired)" in field


def test_dkim_missing_key(srv: RunningServer, keys: dict[str, DkimKey]) -> None:
    data = keys["missing"].sign(message("a@dk.test", "rcpt@example.test"))
    field = deliver(srv, "a@spf-pass.test", data)
    assert "dkim=permerror (no key at gone._domainkey.dk.test)" in field


def test_every_signature_is_verified(srv: RunningServer, keys: dict[str, DkimKey]) -> None:
    data = keys["dk.test"].sign(keys["missing"].sign(message("a@dk.test", "r@example.test")))
    field = deliver(srv, "a@spf-pass.test", data)
    assert "dkim=pass" in field and "dkim=permerror" in field


def test_dmarc_pass_by_aligned_spf(srv: RunningServer) -> None:
    field = deliver(srv, "bounce@dm-spf.test", message("a@dm-spf.test", "r@example.test"))
    assert "dmarc=pass" in field and "header.from=dm-spf.test" in field


def test_dmarc_pass_by_aligned_dkim_relaxed(srv: RunningServer,
                                            keys: dict[str, DkimKey]) -> None:
    """Signed by mail.dm-dkim.test, From: dm-dkim.test: relaxed alignment (the default)."""
    data = keys["mail.dm-dkim.test"].sign(message("a@dm-dkim.test", "r@example.test"))
    field = deliver(srv, "a@spf-pass.test", data)
    assert "dmarc=pass" in field and "DKIM aligned" in field


def test_dmarc_reject_honoured_without_alignment(srv: RunningServer,
                                                 keys: dict[str, DkimKey]) -> None:
    """SPF passes for spf-pass.test and DKIM for dk.test, but neither is the From: domain."""
    user = srv.add_user("auth")
    data = keys["dk.test"].sign(message("ceo@dm-reject.test", user[0]))
    code, text = send(srv, "a@spf-pass.test", data, user[0])
    assert code == 550 and "5.7.1" in text and "DMARC" in text and "dm-reject.test" in text
    assert fetch(srv, user) == []


def test_dkim_key_lookup_failure_is_no_dmarc_rejection(srv: RunningServer) -> None:
    """The only aligned identifier is a signature whose key lookup fails (SERVFAIL): it might
    have passed, so DMARC says temperror and the message is not rejected for good."""
    data = DkimKey("flaky", "dm-reject.test").sign(message("ceo@dm-reject.test",
                                                           "r@example.test"))
    field = deliver(srv, "a@spf-pass.test", data)
    assert "dkim=temperror" in field and "dmarc=temperror" in field


def test_dmarc_strict_alignment_rejects_a_subdomain_signature(
        srv: RunningServer, keys: dict[str, DkimKey]) -> None:
    user = srv.add_user("auth")
    data = keys["mail.dm-strict.test"].sign(message("a@dm-strict.test", user[0]))
    code, text = send(srv, "a@spf-pass.test", data, user[0])
    assert code == 550 and "DMARC" in text


def test_dmarc_quarantine_files_in_junk(srv: RunningServer) -> None:
    field = deliver(srv, "a@spf-pass.test", message("a@dm-quar.test", "r@example.test"),
                    folder="Junk")
    assert "dmarc=fail" in field and "dis=QUARANTINE" in field


def test_dmarc_fail_with_p_none_is_only_annotated(srv: RunningServer) -> None:
    field = deliver(srv, "a@spf-pass.test", message("a@dm-none.test", "r@example.test"))
    assert "dmarc=fail" in field and "p=none" in field


def test_dmarc_policy_lookup_failure_is_recorded_not_deferred(srv: RunningServer) -> None:
    """RFC 7489 asks for no deferral: accepted, with dmarc=temperror (``dmarc_temperror =
    "tempfail"`` would answer 451: tests/unit/test_mailauth_check.py)."""
    field = deliver(srv, "a@spf-pass.test", message("a@dm-temp.test", "r@example.test"))
    assert "dmarc=temperror" in field and "header.from=dm-temp.test" in field


def test_authenticated_submission_is_not_judged(srv: RunningServer) -> None:
    """Mail from an authenticated sender carries no results of ours (and is not refused for
    SPF or DMARC), even from a client that would otherwise be judged."""
    sender = srv.add_user("sender")
    rcpt = srv.add_user("auth")
    with smtplib.SMTP("127.0.0.1", srv.port("submission"), local_hostname="x.test") as s:
        s.starttls(context=insecure_context())
        s.login(*sender)
        s.sendmail(sender[0], [rcpt[0]], message(sender[0], rcpt[0]))
    got = fetch(srv, rcpt)
    assert len(got) == 1 and auth_results(got[0]) == []


def test_forged_authentication_results_are_removed(srv: RunningServer) -> None:
    forged = (f"Authentication-Results: {HOST}; spf=pass smtp.mailfrom=ceo@dm-reject.test;\r\n"
              "\tdkim=pass header.d=dm-reject.test\r\n"
              f"Authentication-Results: (sneaky) {HOST.upper()} 1; dmarc=pass\r\n").encode()
    field = deliver(srv, "a@spf-pass.test", forged + message("a@spf-pass.test",
                                                              "r@example.test"))
    # deliver() found exactly one field: ours; both forged ones (one in upper case, behind a
    # comment and with a version) are gone
    assert "smtp.mailfrom=a@spf-pass.test" in field and "dm-reject" not in field


def test_foreign_authentication_results_stay(srv: RunningServer) -> None:
    user = srv.add_user("auth")
    data = b"Authentication-Results: other.example; spf=pass\r\n" + \
        message("a@spf-pass.test", user[0])
    assert send(srv, "a@spf-pass.test", data, user[0])[0] == 250
    fields = auth_results(fetch(srv, user)[0])
    assert fields[0].startswith(HOST) and fields[1] == "other.example; spf=pass"


def test_each_decision_is_on_the_mail_log(srv: RunningServer,
                                          keys: dict[str, DkimKey]) -> None:
    user = srv.add_user("auth")
    data = keys["dk.test"].sign(message("ceo@dm-reject.test", user[0]))
    with server_log() as logged:
        assert send(srv, "a@spf-pass.test", data, user[0])[0] == 550
        deliver(srv, "bounce@dm-spf.test", message("a@dm-spf.test", "r@example.test"))
        lines = [e.text for e in logged.since(0) if e.record.getMessage() == "mailauth"]
    assert len(lines) == 2, lines
    rejected, accepted = lines
    assert "action=reject" in rejected and "spf=pass" in rejected
    assert "dkim=pass(dk.test" in rejected and "dmarc=fail(dm-reject.test" in rejected
    assert "policy=reject" in rejected and "client=127.0.0.1" in rejected
    assert "action=accept" in accepted and "dmarc=pass(dm-spf.test" in accepted


def test_arc_chain_result_is_reported(srv: RunningServer, keys: dict[str, DkimKey]) -> None:
    """A message sealed by a forwarder (dkimpy, with the dk.test key on the loopback DNS):
    arc=pass; tampered with after sealing: arc=fail."""
    key = keys["dk.test"]
    first = b"Authentication-Results: fwd.dk.test; spf=pass smtp.mailfrom=a@origin.test\r\n" \
        + message("a@origin.test", "r@example.test")
    sealed = b"".join(dkim.arc_sign(first, key.selector.encode(), key.domain.encode(),
                                    key.private, b"fwd.dk.test")) + first
    assert "arc=pass" in deliver(srv, "a@spf-pass.test", sealed, others=1)
    tampered = sealed.replace(b"Hello there.", b"Hello, world")
    assert "arc=fail" in deliver(srv, "a@spf-pass.test", tampered, others=1)


def test_reload_rebuilds_the_check_with_the_new_settings(tmp_path: Path, dns: AuthDns,
                                                         keys: dict[str, DkimKey]) -> None:
    """``postroom reload``: the new [mailauth] settings apply to the next message, and the
    rebuilt check still asks the configured DNS and names this server."""
    base = ["smtp.mx.enabled=true", "smtp.mx.port=0",
            f'smtp.outbound.dns_servers=["127.0.0.1:{dns.port}"]', "mailauth.skip_networks=[]"]
    server = RunningServer(server_config(tmp_path, extra=base))
    try:
        user = server.add_user("auth")
        data = keys["dk.test"].sign(message("ceo@dm-reject.test", user[0]))
        assert send(server, "a@spf-pass.test", data, user[0])[0] == 550
        new = server_config(tmp_path, extra=[*base, 'mailauth.dmarc_action="annotate"'])

        async def reload() -> None:
            server.server.reload(new)
        server.call(reload())
        assert send(server, "a@spf-pass.test", data, user[0])[0] == 250
        fields = auth_results(fetch(server, user)[0])
        assert fields[0].startswith(HOST + ";") and "dmarc=fail" in fields[0]
        assert "spf=pass" in fields[0]  # the DNS server from the configuration
    finally:
        server.stop()
