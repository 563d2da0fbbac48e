"""Dynamic screening on both stores, with a clock the test moves: offences counted in a
window, blocks in force at once, kept by the store across a restart, seen by another process
after ``refresh``, lifted by unblock; and the audited administration service."""

from __future__ import annotations

import msgspec
import pytest

from postroom.app import Services
from postroom.config import ScreeningConfig
from postroom.core.actor import Actor, Origin
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.services.pipeline import Client
from postroom.services.screening import Screening, parse_network


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def screening(services: Services, clock: Clock, **settings: object) -> Screening:
    values: dict[str, object] = {"auth_failures": 3, "bad_sessions": 2,
                                 "unknown_recipients": 4, "window": 60.0,
                                 "block_for": 600.0, "exempt_networks": ["10.0.0.0/8"],
                                 "refresh": 5.0, **settings}
    return Screening(services.store.screening, msgspec.convert(values, ScreeningConfig), clock)


async def test_blocks_after_n_offences_in_the_window(services: Services) -> None:
    clock = Clock()
    s = screening(services, clock)
    for _ in range(2):
        s.note("192.0.2.1", "auth", "imap")
    clock.now += 61  # the first two fell out of the window
    s.note("192.0.2.1", "auth", "imap")
    s.note("192.0.2.1", "auth", "pop3")
    assert await s.reason("192.0.2.1") is None
    s.note("192.0.2.1", "auth", "smtp")  # three within 60 s, across protocols
    reason = await s.reason("192.0.2.1")
    assert reason is not None and "3 failed logins" in reason
    assert await s.reason("192.0.2.2") is None
    await s.close()  # the background write is done
    clock.now += 601
    assert await s.reason("192.0.2.1") is None  # the block ran out


async def test_kinds_thresholds_exemptions_and_ipv6_networks(services: Services) -> None:
    clock = Clock()
    s = screening(services, clock)
    for _ in range(10):
        s.note("10.1.2.3", "auth")  # exempt network
        s.note("local", "auth")  # not an address
    assert await s.reason("10.1.2.3") is None
    s.note("2001:db8:1:2::1", "bad-commands", "imap")
    s.note("2001:db8:1:2::99", "bad-commands", "smtp")  # the same /64
    assert await s.reason("2001:db8:1:2:abcd::7") is not None
    assert await s.reason("2001:db8:1:3::1") is None
    for _ in range(3):
        s.note("198.51.100.4", "unknown-recipient", "smtp")
    assert await s.reason("198.51.100.4") is None
    s.note("198.51.100.4", "unknown-recipient", "smtp")
    assert await s.reason("::ffff:198.51.100.4") is not None  # IPv4-mapped is the same
    off = screening(services, clock, enabled=False, auth_failures=1)
    off.note("203.0.113.5", "auth")
    assert await off.reason("203.0.113.5") is None
    await s.close()


async def test_store_keeps_blocks_and_other_processes_see_changes(services: Services) -> None:
    clock = Clock()
    server = screening(services, clock)
    for _ in range(3):
        server.note("192.0.2.77", "auth")
    await server.close()
    restarted = screening(services, clock)  # a new process: only the store remembers
    assert await restarted.reason("192.0.2.77") is not None
    cli = screening(services, clock)
    await cli.block("198.51.100.0/24", None, "by hand", "operator")
    assert await restarted.reason("198.51.100.9") is None  # its cache is fresh for 5 s
    clock.now += 5
    assert "by hand (until lifted)" in (await restarted.reason("198.51.100.9") or "")
    assert await cli.unblock("192.0.2.77") == ["192.0.2.77/32"]
    assert await cli.unblock("198.51.100.9") == ["198.51.100.0/24"]  # the block covering it
    clock.now += 5
    assert await restarted.reason("192.0.2.77") is None
    assert await restarted.reason("198.51.100.9") is None
    # the unblocked address starts from nothing: one more failure does not block again
    restarted.note("192.0.2.77", "auth")
    assert await restarted.reason("192.0.2.77") is None


async def test_admin_service_checks_and_audits(services: Services) -> None:
    admin = services.admin.screening
    op = Actor.operator()
    rec = await admin.block(op, "203.0.113.9", 3600, "spam run")
    assert rec.network == "203.0.113.9/32" and rec.source == "operator"
    assert [r.network for r in await admin.list(op)] == ["203.0.113.9/32"]
    user = Actor(Principal(5, "u@example.test", 1), Origin("imap", "192.0.2.1"))
    with pytest.raises(MailError) as exc:
        await admin.block(user, "192.0.2.5")
    assert exc.value.kind is Kind.NO_PERM
    assert await admin.unblock(op, "203.0.113.9") == ["203.0.113.9/32"]
    with pytest.raises(MailError) as exc:
        await admin.unblock(op, "203.0.113.9")
    assert exc.value.kind is Kind.NOT_FOUND
    with pytest.raises(MailError) as exc:
        await admin.block(op, "not-an-address")
    assert exc.value.kind is Kind.INVALID
    actions = [(r.action, r.target) for r in await services.admin.audit(op)]
    assert ("screening.block", "203.0.113.9/32") in actions
    assert ("screening.unblock", "203.0.113.9/32") in actions


def test_parse_network() -> None:
    assert str(parse_network("192.0.2.7")) == "192.0.2.7/32"
    assert str(parse_network("::ffff:192.0.2.7")) == "192.0.2.7/32"
    assert str(parse_network("2001:db8::1/64")) == "2001:db8::/64"


async def test_unknown_recipients_count_only_for_strangers(services: Services) -> None:
    """Harvesting is counted for anonymous, untrusted clients; an authenticated user or a
    trusted relay sending to many dead addresses is never blocked for it."""
    clock = Clock()
    s = screening(services, clock)
    services.submission.screening = s
    who = Principal(1, "alice@example.com", 1)
    await services.directory.add_domain("example.com")
    for client in (Client("198.51.100.7", principal=who), Client("198.51.100.8", trusted=True),
                   Client("198.51.100.9")):
        sender = client.principal.address if client.principal else "x@example.net"
        message = await services.submission.start(client, sender)
        for i in range(5):
            with pytest.raises(MailError):
                await services.submission.add_recipient(message, f"nobody{i}@example.com")
    assert s.match("198.51.100.7") is None and s.match("198.51.100.8") is None
    assert s.match("198.51.100.9") is not None
    await s.close()
