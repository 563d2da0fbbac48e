"""DKIM and BATV keys on both backends (store/repo/signing.py, migration 0014): made, sealed,
rotated, chosen for signing, removed with their domain."""

from __future__ import annotations

import time

import pytest

from postroom.app import Services
from postroom.core.actor import Actor
from postroom.core.errors import MailError


async def test_dkim_keys_through_a_rotation(services: Services) -> None:
    await services.directory.add_domain("example.com")
    dkim = services.dkim_keys
    now = int(time.time())
    first = await dkim.generate("example.com", ["ed25519", "rsa"], now=now)
    assert [(k.algorithm, k.state) for k in first] == [("ed25519", "active"), ("rsa", "active")]
    signing = await dkim.signing_keys("example.com")
    assert [k.algorithm for k in signing] == ["ed25519", "rsa"]
    with pytest.raises(MailError):
        await dkim.generate("example.com", ["rsa"], now=now)
    await dkim.rotate("example.com", ["rsa"], delay=100, selector="next", now=now)
    states = {k.selector: k.state for k in await dkim.keys("example.com", now)}
    assert states["next"] == "pending" and list(states.values()).count("active") == 2
    later = {k.selector: k.state for k in await dkim.keys("example.com", now + 100)}
    assert later["next"] == "active" and "retiring" in later.values()
    assert (await dkim.private_pem("example.com", "next")).startswith("-----BEGIN")
    assert await dkim.domains() == ["example.com"]
    await services.admin.domains.remove(Actor.operator(), "example.com")
    assert await dkim.domains() == []


async def test_batv_keys_rotate(services: Services) -> None:
    await services.directory.add_domain("example.com")
    batv = services.batv
    batv.cfg.enabled = True
    tagged = await batv.return_path("alice@example.com")
    assert tagged.startswith("prvs=0")
    assert await batv.return_path("someone@elsewhere.test") == "someone@elsewhere.test"
    assert await batv.rotate() == 1
    assert [k.state for k in await batv.keys()] == ["signing", "validating"]
    assert (await batv.return_path("alice@example.com")).startswith("prvs=1")
    assert await batv.rotate(drop_old=True) == 0
    assert [k.number for k in await batv.keys()] == [0]
