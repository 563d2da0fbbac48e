"""The login throttle (directory/throttle.py): a guesser slows itself down, never the owner.

Named regression: "login throttle lockout" — about 18 failures from anywhere used to make every
login of the real user, from any address, wait 15 s."""

from __future__ import annotations

from postroom.directory.throttle import MAX_DELAY, AuthThrottle, network_of


def test_a_guesser_elsewhere_cannot_make_the_owner_wait() -> None:
    t = AuthThrottle(threshold=10, window=300)
    for i in range(40):  # a bot on many addresses of one network, and one elsewhere
        t.failure(f"198.51.100.{i % 200}", "alice@example.com")
        t.failure("192.0.2.66", "alice@example.com")
    assert t.delay("203.0.113.5", "alice@example.com") == 0  # the owner, another network
    assert t.delay("198.51.100.250", "alice@example.com") == MAX_DELAY  # the bot's network
    assert t.delay("192.0.2.66") == MAX_DELAY  # per address: unchanged
    assert t.delay("192.0.2.67", "alice@example.com") == MAX_DELAY  # same /24 as that bot


def test_success_clears_the_owners_network() -> None:
    t = AuthThrottle(threshold=2, window=300)
    for _ in range(5):
        t.failure("203.0.113.5", "bob@example.com")
    assert t.delay("203.0.113.9", "bob@example.com") > 0
    t.success("203.0.113.5", "bob@example.com")
    assert t.delay("203.0.113.9", "bob@example.com") == 0


def test_networks() -> None:
    assert network_of("192.0.2.77") == "192.0.2.0/24"
    assert network_of("::ffff:192.0.2.77") == "192.0.2.0/24"
    assert network_of("2001:db8:1:2:3::4") == "2001:db8:1:2::/64"
    assert network_of("not-an-ip") == "not-an-ip"
