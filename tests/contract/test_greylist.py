"""Greylisting on both stores, with a clock the test moves (no sleeping): the triplet's life,
its exemptions and the SPF contract (services/pipeline/greylist.py)."""

from __future__ import annotations

import msgspec
import pytest

from postroom.app import Services, open_store
from postroom.config import Config, GreylistConfig
from postroom.core.envelope import Stage
from postroom.core.errors import Kind
from postroom.core.principal import Principal
from postroom.services.pipeline import Client, Judgement, Message, Verdict
from postroom.services.pipeline.greylist import GreylistCheck, plain_sender, spf_passed_for


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def message(ip: str = "192.0.2.10", sender: str = "alice@sender.example",
            rcpt: str = "bob@example.test", principal: Principal | None = None,
            trusted: bool = False) -> Message:
    m = Message(Client(ip, "mx.sender.example", principal=principal, trusted=trusted), sender)
    m.rcpt = rcpt
    return m


def check(services: Services, clock: Clock, **settings: object) -> GreylistCheck:
    values: dict[str, object] = {"delay": 300.0, "auto_allow_after": 0, **settings}
    cfg = msgspec.convert(values, GreylistConfig)
    return GreylistCheck(services.store.greylist, cfg, clock)


async def judge(c: GreylistCheck, m: Message) -> Judgement:
    return await c.judge(Stage.RECIPIENT, m)


def deferred(j: Judgement) -> bool:
    return j.verdict is Verdict.TEMPFAIL and j.kind is Kind.DEFERRED


async def test_first_deferred_retry_after_delay_passes(services: Services) -> None:
    clock = Clock()
    c = check(services, clock)
    first = await judge(c, message())
    assert deferred(first) and "try again in 300 seconds" in first.text
    clock.now += 120
    again = await judge(c, message())
    assert deferred(again) and "180 seconds" in again.text  # the clock did not restart
    clock.now += 181
    assert (await judge(c, message())).verdict is Verdict.CONTINUE
    clock.now += 86400  # a known triplet passes at once from now on
    assert (await judge(c, message())).verdict is Verdict.CONTINUE
    # another host of the same /24 is the same client; another recipient is a new triplet
    assert (await judge(c, message(ip="192.0.2.200"))).verdict is Verdict.CONTINUE
    assert deferred(await judge(c, message(rcpt="carol@example.test")))
    assert deferred(await judge(c, message(ip="198.51.100.7")))


async def test_ipv6_counts_by_64_and_prefix_is_configurable(services: Services) -> None:
    clock = Clock()
    c = check(services, clock, delay=10.0)
    assert deferred(await judge(c, message(ip="2001:db8:1:2::5")))
    clock.now += 11
    assert (await judge(c, message(ip="2001:db8:1:2:ffff::9"))).verdict is Verdict.CONTINUE
    narrow = check(services, clock, delay=10.0, ipv4_prefix=32)
    assert deferred(await judge(narrow, message(ip="203.0.113.1")))
    clock.now += 11
    assert deferred(await judge(narrow, message(ip="203.0.113.2")))  # /32: another client


async def test_expiry_of_unconfirmed_and_confirmed_triplets(services: Services) -> None:
    clock = Clock()
    c = check(services, clock, delay=60.0, unconfirmed_lifetime=3600.0,
              confirmed_lifetime=7200.0)
    assert deferred(await judge(c, message()))
    clock.now += 3601  # never retried in time: starts over
    assert deferred(await judge(c, message()))
    clock.now += 61
    assert (await judge(c, message())).verdict is Verdict.CONTINUE
    clock.now += 7201  # passed, then unused for longer than the confirmed lifetime
    assert deferred(await judge(c, message()))


async def test_auto_allow_after_n_passes(services: Services) -> None:
    clock = Clock()
    c = check(services, clock, delay=5.0, auto_allow_after=2)
    for rcpt in ("one@example.test", "two@example.test"):
        assert deferred(await judge(c, message(rcpt=rcpt)))
        clock.now += 6
        assert (await judge(c, message(rcpt=rcpt))).verdict is Verdict.CONTINUE
    # two triplets of sender.example from this network passed: new ones are not delayed
    fresh = message(sender="someone-else@sender.example", rcpt="three@example.test")
    assert (await judge(c, fresh)).verdict is Verdict.CONTINUE
    assert deferred(await judge(c, message(sender="x@other.example")))


async def test_exemptions(services: Services) -> None:
    clock = Clock()
    c = check(services, clock, exempt_networks=["198.51.100.0/24"],
              spf_allow_domains=["bank.example"])
    authed = Principal(1, "u@example.test", 1)
    assert (await judge(c, message(principal=authed))).verdict is Verdict.CONTINUE
    assert (await judge(c, message(trusted=True))).verdict is Verdict.CONTINUE
    assert (await judge(c, message(ip="local"))).verdict is Verdict.CONTINUE
    assert (await judge(c, message(ip="198.51.100.9"))).verdict is Verdict.CONTINUE
    allowed = message(ip="203.0.113.77")
    allowed.allow_listed = "list.dnswl.example"  # set by the dnsbl check at MAIL FROM
    assert (await judge(c, allowed)).verdict is Verdict.CONTINUE
    # SPF: the field an SPF check sets, or a Received-SPF annotation; only for listed domains
    spf = message(sender="news@mail.bank.example")
    assert deferred(await judge(c, spf))  # no SPF result on the message: greylisted
    spf.spf, spf.spf_domain = "pass", "mail.bank.example"
    assert (await judge(c, spf)).verdict is Verdict.CONTINUE
    spf.spf = "softfail"
    assert deferred(await judge(c, spf))
    noted = message(sender="news@bank.example", rcpt="z@example.test")
    noted.annotations.append("Received-SPF: pass (mx.example.test: domain of "
                             "news@bank.example designates 192.0.2.10 as permitted sender) "
                             "client-ip=192.0.2.10; envelope-from=\"news@bank.example\"")
    assert (await judge(c, noted)).verdict is Verdict.CONTINUE
    other = message(sender="a@evil.example", rcpt="y@example.test")
    other.spf, other.spf_domain = "pass", "evil.example"
    assert deferred(await judge(c, other))


def test_sender_forms() -> None:
    assert plain_sender("prvs=1234abcd56=Bounce@Example.ORG") == "bounce@example.org"
    assert plain_sender("") == "<>"
    m = message()
    assert spf_passed_for(m) is None
    m.annotations.append("Received-SPF: fail (not permitted)")
    assert spf_passed_for(m) is None


@pytest.mark.parametrize("delay", [0.0])
async def test_zero_delay_still_needs_a_retry(services: Services, delay: float) -> None:
    clock = Clock()
    c = check(services, clock, delay=delay)
    assert deferred(await judge(c, message()))
    assert (await judge(c, message())).verdict is Verdict.CONTINUE


async def test_store_failure_lets_mail_through(backend_config: Config) -> None:
    """Greylisting is a filter: when its state cannot be read, mail is not stopped."""
    store = open_store(backend_config)
    c = GreylistCheck(store.greylist, GreylistConfig(), Clock())
    await store.close()
    assert (await judge(c, message())).verdict is Verdict.CONTINUE
