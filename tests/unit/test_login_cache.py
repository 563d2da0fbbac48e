"""The memory of recent successful password checks (directory/login_cache.py, issue 20)."""

from __future__ import annotations

from postroom.directory.login_cache import CacheSettings, LoginCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_only_the_same_password_against_the_same_hash_matches() -> None:
    cache = LoginCache(CacheSettings(60, 10))
    assert not cache.knows("a@x", "$h1", "pw")
    cache.remember("a@x", "$h1", "pw")
    assert cache.knows("a@x", "$h1", "pw")
    assert not cache.knows("a@x", "$h1", "pw2")
    assert not cache.knows("a@x", "$h2", "pw")  # the password was changed
    assert not cache.knows("b@x", "$h1", "pw")
    # Length-prefixed parts: moving characters between fields never collides.
    cache.remember("ab", "c", "d")
    assert not cache.knows("ab", "cd", "")


def test_entries_expire_and_the_oldest_go_first() -> None:
    clock = Clock()
    cache = LoginCache(CacheSettings(60, 2), clock=clock)
    cache.remember("a@x", "$h", "pw")
    clock.now += 59
    assert cache.knows("a@x", "$h", "pw")
    clock.now += 1
    assert not cache.knows("a@x", "$h", "pw") and len(cache) == 0
    for name in ("a@x", "b@x", "c@x"):
        cache.remember(name, "$h", "pw")
    assert len(cache) == 2 and not cache.knows("a@x", "$h", "pw")
    assert cache.knows("c@x", "$h", "pw")
    cache.forget("c@x")
    assert not cache.knows("c@x", "$h", "pw")


def test_ttl_zero_remembers_nothing() -> None:
    settings = CacheSettings(0)
    cache = LoginCache(settings)
    cache.remember("a@x", "$h", "pw")
    assert not cache.enabled and not cache.knows("a@x", "$h", "pw") and len(cache) == 0
    settings.cache_ttl = 60  # a reload turns it on
    cache.remember("a@x", "$h", "pw")
    assert cache.knows("a@x", "$h", "pw")
    settings.cache_ttl = 0  # and off again: nothing is kept
    assert not cache.knows("a@x", "$h", "pw") and len(cache) == 0


def test_each_process_has_its_own_key() -> None:
    one, two = LoginCache(), LoginCache()
    assert one._digest("a", "b", "c") != two._digest("a", "b", "c")
