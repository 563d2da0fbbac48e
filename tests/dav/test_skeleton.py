"""The DAV area is mounted on the public listener, outside webmail's session layer."""

from __future__ import annotations

from tests.support.dav import Dav


def test_dav_paths_reach_the_dav_application(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    status, _, _ = dav.request(alice, "OPTIONS", "/dav/")
    assert status != 303  # never the webmail login redirect
