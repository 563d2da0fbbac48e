"""The dnsbl check alone, against a real DNS server on loopback (tests/support/mailhost.py):
RFC 5782 query names, listings with their TXT reasons, weights and allow lists, error answers,
and DNS failures that never refuse."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import msgspec
import pytest

from postroom.config import DnsblConfig
from postroom.core.envelope import Stage
from postroom.core.errors import Kind
from postroom.core.principal import Principal
from postroom.net.dns import make_resolver
from postroom.services.pipeline import Client, Message, Verdict
from postroom.services.pipeline.dnsbl import DnsblCheck, query_name
from tests.support.mailhost import Dns


@pytest.fixture(scope="module")
def dns() -> Iterator[Dns]:
    server = Dns()
    z = server.zone
    # 192.0.2.99: on the block list (with a reason) and on a second list
    z.add("99.2.0.192.bl.test", "A", "127.0.0.2")
    z.add("99.2.0.192.bl.test", "TXT", '"Listed: see https://bl.test/q?ip=192.0.2.99"')
    z.add("99.2.0.192.small.test", "A", "127.0.0.4")
    # 192.0.2.50: blocked but also on the allow list
    z.add("50.2.0.192.bl.test", "A", "127.0.0.2")
    z.add("50.2.0.192.wl.test", "A", "127.0.10.2")
    # 192.0.2.60: the list says "you may not query me" (127.255.255.254): not a listing
    z.add("60.2.0.192.bl.test", "A", "127.255.255.254")
    # 192.0.2.70: a code the zone's filter does not count
    z.add("70.2.0.192.bl.test", "A", "127.0.0.10")
    # IPv6, nibbles (RFC 5782 §2.4)
    six = query_name(ipaddress.ip_address("2001:db8:1:2:3:4:567:89ab"), "bl.test")
    z.add(six.rstrip("."), "A", "127.0.0.2")
    yield server
    server.stop()


def check(dns_port: int, **settings: object) -> DnsblCheck:
    values: dict[str, object] = {
        "zones": [{"zone": "bl.test", "weight": 10, "codes": []},
                  {"zone": "small.test", "weight": 2},
                  {"zone": "wl.test", "weight": -5}],
        "threshold": 10, "timeout": 2.0, **settings}
    cfg = msgspec.convert(values, DnsblConfig)
    return DnsblCheck(cfg, make_resolver([f"127.0.0.1:{dns_port}"], cfg.timeout))


def message(ip: str, principal: Principal | None = None, trusted: bool = False) -> Message:
    return Message(Client(ip, "client.test", principal=principal, trusted=trusted),
                   "someone@sender.test")


def test_query_names_rfc5782() -> None:
    # RFC 5782 §2.1 and §2.4 examples
    assert query_name(ipaddress.ip_address("192.0.2.99"), "bad.example.com") == \
        "99.2.0.192.bad.example.com."
    assert query_name(ipaddress.ip_address("2001:db8:1:2:3:4:567:89ab"),
                      "ugly.example.com") == \
        "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com."


async def test_listed_client_is_refused_naming_the_zone_and_reason(dns: Dns) -> None:
    j = await check(dns.port).judge(Stage.SENDER, message("192.0.2.99"))
    assert j.verdict is Verdict.REJECT and j.kind is Kind.POLICY
    assert "192.0.2.99 is listed by bl.test, small.test" in j.text
    assert "Listed: see https://bl.test/q?ip=192.0.2.99" in j.text


async def test_weights_allow_lists_and_thresholds(dns: Dns) -> None:
    c = check(dns.port)
    assert (await c.judge(Stage.SENDER, message("192.0.2.50"))).verdict is Verdict.CONTINUE
    assert (await c.judge(Stage.SENDER, message("192.0.2.1"))).verdict is Verdict.CONTINUE
    high = check(dns.port, threshold=13)
    assert (await high.judge(Stage.SENDER, message("192.0.2.99"))).verdict is \
        Verdict.CONTINUE  # 10 + 2 < 13
    six = await c.judge(Stage.SENDER, message("2001:db8:1:2:3:4:567:89ab"))
    assert six.verdict is Verdict.REJECT and "bl.test" in six.text


async def test_an_allow_zone_lets_the_client_through_and_marks_it(dns: Dns) -> None:
    c = check(dns.port, zones=[{"zone": "bl.test", "weight": 10},
                               {"zone": "wl.test", "weight": 0, "allow": True}])
    listed_and_allowed = message("192.0.2.50")
    assert (await c.judge(Stage.SENDER, listed_and_allowed)).verdict is Verdict.CONTINUE
    assert listed_and_allowed.allow_listed == "wl.test"  # greylisting reads this
    only_listed = message("192.0.2.99")
    assert (await c.judge(Stage.SENDER, only_listed)).verdict is Verdict.REJECT
    assert only_listed.allow_listed == ""


async def test_error_answers_and_code_filters_are_not_listings(dns: Dns) -> None:
    c = check(dns.port)
    assert (await c.judge(Stage.SENDER, message("192.0.2.60"))).verdict is Verdict.CONTINUE
    narrow = check(dns.port, zones=[{"zone": "bl.test", "weight": 10,
                                     "codes": ["127.0.0.2"]}])
    assert (await narrow.judge(Stage.SENDER, message("192.0.2.70"))).verdict is \
        Verdict.CONTINUE
    assert (await check(dns.port).judge(Stage.SENDER, message("192.0.2.70"))).verdict is \
        Verdict.REJECT


async def test_exempt_clients_are_not_looked_up(dns: Dns) -> None:
    c = check(dns.port, exempt_networks=["192.0.2.96/30"])
    user = Principal(1, "u@example.test", 1)
    for m in (message("192.0.2.99", principal=user), message("192.0.2.99", trusted=True),
              message("192.0.2.99"), message("local")):
        assert (await c.judge(Stage.SENDER, m)).verdict is Verdict.CONTINUE


async def test_dns_failure_never_refuses() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # a server that never answers
        silent.bind(("127.0.0.1", 0))
        c = check(silent.getsockname()[1], timeout=0.5)
        j = await c.judge(Stage.SENDER, message("192.0.2.99"))
    assert j.verdict is Verdict.CONTINUE


async def test_results_are_cached(dns: Dns) -> None:
    c = check(dns.port)
    assert (await c.judge(Stage.SENDER, message("192.0.2.88"))).verdict is Verdict.CONTINUE
    dns.zone.add("88.2.0.192.bl.test", "A", "127.0.0.2")
    assert (await c.judge(Stage.SENDER, message("192.0.2.88"))).verdict is Verdict.CONTINUE
    fresh = check(dns.port, cache_ttl=0)
    assert (await fresh.judge(Stage.SENDER, message("192.0.2.88"))).verdict is Verdict.REJECT
