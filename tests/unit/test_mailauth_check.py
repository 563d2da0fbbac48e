"""The ``mailauth`` check alone (services/mailauth/check.py) with the real pipeline, over a
zone in memory; and the DNS adapter (net/lookup.py) against the real loopback DNS server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import dns.asyncresolver
import pytest

from postroom.core.envelope import Stage
from postroom.core.errors import MailError
from postroom.core.principal import Principal
from postroom.net.dns import make_resolver
from postroom.net.lookup import DnsLookup, DnsTemporary, reverse_name
from postroom.services.mailauth.check import MailAuthCheck, MailAuthSettings
from postroom.services.mailauth.dmarc import OrgDomains
from postroom.services.pipeline import BytesContent, Client, Message, Pipeline, header_section
from tests.support.authmail import AuthDns, DkimKey, message
from tests.support.spfsuite import ZoneLookup

ORG = OrgDomains()
KEY = DkimKey("sel", "good.test")
ZONE = {
    "good.test": [{"TXT": "v=spf1 ip4:192.0.2.1 -all"}],
    "_dmarc.good.test": [{"TXT": "v=DMARC1; p=reject"}],
    KEY.name: [{"TXT": KEY.record}],
    "bad.test": [{"TXT": "v=spf1 -all"}],
    "_dmarc.bad.test": [{"TXT": "v=DMARC1; p=reject"}],
    "slow.test": ["TIMEOUT"],
}


def check(**settings: object) -> MailAuthCheck:
    s = MailAuthSettings(authserv_id="mx.ours.test", **settings)  # type: ignore[arg-type]
    return MailAuthCheck(s, ZoneLookup(ZONE), ORG)  # type: ignore[arg-type]


def run(c: MailAuthCheck, sender: str, data: bytes, client: Client | None = None,
        ) -> Message:
    """MAIL FROM, one RCPT, DATA through a real Pipeline; raises MailError on refusal."""
    async def go() -> Message:
        pipeline = Pipeline([c])
        m = Message(client or Client("192.0.2.1", helo="client.good.test"), sender)
        await pipeline.judge(Stage.SENDER, m)
        m.recipients.append("r@example.test")
        await pipeline.judge(Stage.RECIPIENT, m)
        m.head, m.size, m.content = header_section(data), len(data), BytesContent(data)
        await pipeline.judge(Stage.CONTENT, m)
        return m
    return asyncio.run(go())


def test_one_header_with_every_result() -> None:
    data = KEY.sign(message("a@good.test", "r@example.test"))
    m = run(check(), "a@good.test", data)
    assert len(m.annotations) == 1
    ar = m.annotations[0]
    assert ar.startswith("Authentication-Results: mx.ours.test;\r\n\t")
    for part in ("spf=pass", "smtp.mailfrom=a@good.test", "smtp.helo=client.good.test",
                 "dkim=pass", "header.d=good.test", "arc=none", "dmarc=pass"):
        assert part in ar, part
    assert not m.quarantine


def test_dmarc_actions() -> None:
    data = message("a@bad.test", "r@example.test")
    with pytest.raises(MailError) as err:
        run(check(), "a@bad.test", data)
    assert "DMARC" in err.value.text
    m = run(check(dmarc_action="quarantine"), "a@bad.test", data)
    assert m.quarantine and "dmarc=fail" in m.annotations[0]
    m = run(check(dmarc_action="annotate"), "a@bad.test", data)
    assert not m.quarantine and "dmarc=fail" in m.annotations[0]


def test_spf_fail_actions() -> None:
    data = message("a@nodmarc.test", "r@example.test")
    m = run(check(), "a@bad.test", data)  # annotate: DMARC (none here) decides
    assert not m.quarantine and "spf=fail" in m.annotations[0]
    assert run(check(spf_fail="quarantine"), "a@bad.test", data).quarantine
    with pytest.raises(MailError, match="SPF"):
        run(check(spf_fail="reject"), "a@bad.test", data)


def test_spf_temperror_per_config() -> None:
    data = message("a@slow.test", "r@example.test")
    with pytest.raises(MailError, match="SPF"):
        run(check(), "a@slow.test", data)
    m = run(check(spf_temperror="annotate", dmarc_temperror="annotate"), "a@slow.test", data)
    assert "spf=temperror" in m.annotations[0]


def test_dmarc_temperror_per_config() -> None:
    lookup_fails = dict(ZONE, **{"_dmarc.flaky.test": ["TIMEOUT"]})
    c = MailAuthCheck(MailAuthSettings(authserv_id="mx.ours.test"), ZoneLookup(lookup_fails),
                      ORG)  # type: ignore[arg-type]
    data = message("a@flaky.test", "r@example.test")
    m = run(c, "a@good.test", data)  # default: accepted, recorded
    assert "dmarc=temperror" in m.annotations[0]
    c = MailAuthCheck(MailAuthSettings(authserv_id="mx.ours.test",
                                       dmarc_temperror="tempfail"),
                      ZoneLookup(lookup_fails), ORG)  # type: ignore[arg-type]
    with pytest.raises(MailError, match="DMARC") as err:
        run(c, "a@good.test", data)
    assert err.value.kind.value == "temporary"


def test_internationalised_sender_domain_is_asked_as_a_label() -> None:
    idn = dict(ZONE, **{"xn--bcher-kva.test": [{"TXT": "v=spf1 ip4:192.0.2.1 -all"}]})
    c = MailAuthCheck(MailAuthSettings(authserv_id="mx.ours.test"), ZoneLookup(idn),
                      ORG)  # type: ignore[arg-type]
    m = run(c, "ä@bücher.test", message("ä@bücher.test", "r@example.test"))
    assert "spf=pass" in m.annotations[0]
    assert "header.from=xn--bcher-kva.test" in m.annotations[0]


def test_null_sender_is_checked_by_helo() -> None:
    """RFC 7208 §2.4: postmaster@<helo>; DMARC then aligns with the HELO domain."""
    m = run(check(), "", message("mailer-daemon@good.test", "r@example.test"),
            Client("192.0.2.1", helo="good.test"))
    ar = m.annotations[0]
    assert "spf=pass" in ar and "smtp.helo=good.test" in ar and "dmarc=pass" in ar


@pytest.mark.parametrize("client", [
    Client("192.0.2.9", principal=Principal(1, "a@bad.test", 1)),
    Client("192.0.2.9", trusted=True),
    Client("127.0.0.1"),
    Client("local"),
])
def test_exempt_clients_are_not_judged_but_forgeries_still_go(client: Client) -> None:
    data = b"Authentication-Results: mx.ours.test; dmarc=pass\r\n" + \
        message("a@bad.test", "r@example.test")
    m = run(check(), "a@bad.test", data, client)
    assert m.annotations == [] and not m.quarantine
    assert m.drop == [(0, len(b"Authentication-Results: mx.ours.test; dmarc=pass\r\n"))]


def test_too_large_to_verify() -> None:
    data = KEY.sign(message("a@good.test", "r@example.test"))
    m = run(check(max_verify_size=100), "a@good.test", data)
    assert "dkim=policy (message too large to verify)" in m.annotations[0]
    assert "dmarc=pass" in m.annotations[0]  # SPF still aligned


def test_disabled_parts() -> None:
    data = KEY.sign(message("a@good.test", "r@example.test"))
    m = run(check(spf=False, dkim=False, arc=False, dmarc=False), "a@good.test", data)
    assert m.annotations == ["Authentication-Results: mx.ours.test; none"]


# -- the DNS adapter over the real loopback server ------------------------------------------
@pytest.fixture(scope="module")
def loopback() -> Iterator[AuthDns]:
    d = AuthDns()
    d.txt("long.test", "v=spf1 " + "ip4:192.0.2.1 " * 30 + "-all")
    d.zone.add("addr.test", "A", "192.0.2.5")
    d.zone.add("mx.test", "MX", "20 b.mx.test.")
    d.zone.add("mx.test", "MX", "10 a.mx.test.")
    d.zone.servfail.add("broken.test")
    yield d
    d.stop()


async def test_dns_adapter(loopback: AuthDns) -> None:
    lookup = DnsLookup(make_resolver([f"127.0.0.1:{loopback.port}"], 2), timeout=2)
    txt = await lookup.query("long.test", "TXT")
    assert txt.records[0].startswith("v=spf1 ip4:") and txt.records[0].endswith("-all")
    assert len(txt.records[0]) > 255  # strings joined with nothing between
    assert (await lookup.query("addr.test", "A")).records == ("192.0.2.5",)
    void = await lookup.query("addr.test", "TXT")
    assert void.void and not void.nxdomain
    assert (await lookup.query("nowhere.test", "A")).nxdomain
    assert (await lookup.query("mx.test", "MX")).records == ("a.mx.test", "b.mx.test")
    assert (await lookup.query("a..test", "A")).nxdomain  # not a name DNS can carry
    with pytest.raises(DnsTemporary):
        await lookup.query("broken.test", "TXT")


async def test_dns_adapter_cache(loopback: AuthDns) -> None:
    """Answers with records are kept for their TTL (60 s on the loopback server); a
    temporary failure is never kept."""
    resolver = make_resolver([f"127.0.0.1:{loopback.port}"], 2)
    cached, fresh = DnsLookup(resolver, 2, cache=100), DnsLookup(resolver, 2)
    loopback.zone.add("cached.test", "A", "192.0.2.1")
    assert (await cached.query("cached.test", "A")).records == ("192.0.2.1",)
    loopback.zone.add("cached.test", "A", "192.0.2.2")
    assert (await cached.query("Cached.TEST", "A")).records == ("192.0.2.1",)
    assert len((await fresh.query("cached.test", "A")).records) == 2
    with pytest.raises(DnsTemporary):
        await cached.query("broken.test", "TXT")
    assert ("broken.test", "TXT") not in cached.cache


async def test_dns_adapter_times_out() -> None:
    """A server that never answers: DnsTemporary within the timeout, not a hang."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        resolver: dns.asyncresolver.Resolver = make_resolver([f"127.0.0.1:{port}"], 0.5)
        start = time.monotonic()
        with pytest.raises(DnsTemporary):
            await DnsLookup(resolver, timeout=0.5).query("x.test", "TXT")
        assert time.monotonic() - start < 3


def test_reverse_name() -> None:
    assert reverse_name("192.0.2.1") == "1.2.0.192.in-addr.arpa"
    assert reverse_name("2001:db8::1").endswith(".8.b.d.0.1.0.0.2.ip6.arpa")
