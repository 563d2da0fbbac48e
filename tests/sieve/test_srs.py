"""The Sender Rewriting Scheme (services/sieve/srs.py): the address forms, their checks, and
the service's choices (which senders are rewritten, which recipients are SRS addresses of
ours). Over SMTP: tests/sieve/test_redirect_smtp.py and tests/e2e/test_sieve_two_servers.py."""

from __future__ import annotations

import base64
import hmac
import stat
from hashlib import sha1
from pathlib import Path

import pytest

from postroom.app import Services
from postroom.core.errors import Kind, MailError
from postroom.services.pipeline import Client
from postroom.services.sieve.srs import (
    DAY,
    SECRET_FILE,
    SenderRewriting,
    Srs,
    SrsError,
    is_srs,
    load_secret,
    timestamp,
    timestamp_age,
)
from tests.support.factory import account

SECRET = b"shhh"
NOW = 20_000 * DAY + 3600.0  # day 20000: 20000 % 1024 = 544 = 17 * 32 + 0 -> "RA"


def test_timestamp_is_two_base32_digits_of_the_day() -> None:
    assert timestamp(NOW) == "RA"
    assert timestamp_age("RA", NOW) == 0
    assert timestamp_age("ra", NOW + 3 * DAY) == 3  # read case-insensitively
    assert timestamp_age("RA", NOW + 1030 * DAY) == 6  # wraps every 1024 days
    assert timestamp_age("R1", NOW) is None and timestamp_age("RAA", NOW) is None


def test_srs0_round_trip() -> None:
    srs = Srs(SECRET, 21)
    address = srs.forward("Dave.Smith@b.example", "a.example", NOW)
    local, _, domain = address.rpartition("@")
    tag, hash_, stamp, host, user = local.split("=")
    assert (tag, stamp, host, user, domain) == ("SRS0", "RA", "b.example", "Dave.Smith",
                                                "a.example")
    # the hash: HMAC-SHA1 over the lower-cased timestamp, host and user, base64, 4 characters
    mac = hmac.new(SECRET, b"rab.exampledave.smith", sha1).digest()
    assert hash_ == base64.b64encode(mac).decode()[:4]
    assert srs.reverse(address, NOW + 20 * DAY) == "Dave.Smith@b.example"
    assert is_srs(local) and not is_srs("dave")


def test_case_changed_on_the_way_back_still_verifies() -> None:
    srs = Srs(SECRET, 21)
    address = srs.forward("dave@b.example", "a.example", NOW)
    assert srs.reverse(address.lower(), NOW) == "dave@b.example"
    assert srs.reverse(address.upper(), NOW).lower() == "dave@b.example"


def test_expired_and_forged_addresses_are_refused() -> None:
    srs = Srs(SECRET, 21)
    address = srs.forward("dave@b.example", "a.example", NOW)
    with pytest.raises(SrsError, match="expired"):
        srs.reverse(address, NOW + 22 * DAY)
    with pytest.raises(SrsError, match="expired"):  # from the future: as old as can be
        srs.reverse(address, NOW - DAY)
    local, _, domain = address.rpartition("@")
    tag, hash_, stamp, host, user = local.split("=")
    forged = f"{tag}={hash_}={stamp}={host}=mallory@{domain}"  # another victim, same hash
    with pytest.raises(SrsError, match="hash"):
        srs.reverse(forged, NOW)
    younger = f"{tag}={hash_}=RB={host}={user}@{domain}"  # a later day to live longer
    with pytest.raises(SrsError, match="hash"):
        srs.reverse(younger, NOW)
    with pytest.raises(SrsError, match="hash"):  # another secret
        Srs(b"other", 21).reverse(address, NOW)
    for bad in ("SRS0=abcd=RA@a.example", "SRS0==RA=b.example=dave@a.example",
                "SRS1=abcd=b.example@a.example", "plain@a.example", "SRS0=x"):
        with pytest.raises(SrsError):
            srs.reverse(bad, NOW)


def test_srs1_when_forwarding_someone_elses_srs0() -> None:
    """B rewrote dave's address (SRS0 at b.example), we forward again: SRS1 names B and
    keeps what B signed; a bounce to our SRS1 goes back to B's SRS0, which B reverses."""
    b, a = Srs(b"b-secret", 21), Srs(SECRET, 21)
    at_b = b.forward("dave@c.example", "b.example", NOW)
    at_a = a.forward(at_b, "a.example", NOW)
    local = at_a.partition("@")[0]
    assert local.startswith("SRS1=") and "=b.example==" in local
    assert local.endswith(at_b.partition("@")[0][4:])
    back_to_b = a.reverse(at_a, NOW + 2 * DAY)
    assert back_to_b == at_b
    assert b.reverse(back_to_b, NOW + 2 * DAY) == "dave@c.example"
    # forwarded once more by a third hop: still SRS1 naming the first one (b.example)
    third = Srs(b"third", 21)
    again = third.forward(at_a, "d.example", NOW)
    assert again.startswith("SRS1=") and "=b.example==" in again
    assert third.reverse(again, NOW) == at_b
    # an SRS1 whose hash was altered is refused
    tag, _, rest = at_a.partition("=")
    with pytest.raises(SrsError, match="hash"):
        a.reverse(f"{tag}=AAAA={rest.partition('=')[2]}", NOW)


def test_null_sender_stays_null() -> None:
    assert Srs(SECRET).forward("", "a.example", NOW) == ""  # RFC 5228 §4.2


def test_generated_secret_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = load_secret("", tmp_path / "data")
    path = tmp_path / "data" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and load_secret("", tmp_path / "data") == first
    assert load_secret("configured", tmp_path / "data") == b"configured"


async def test_service_rewrites_foreign_senders_only(sqlite_services: Services) -> None:
    s = sqlite_services
    await account(s, "alice@a.example")
    srs = SenderRewriting(s.directory, s.cfg.sieve, s.cfg.data_path)
    assert await srs.return_path("", "a.example") == ""
    assert await srs.return_path("bob@a.example", "a.example") == "bob@a.example"  # ours
    assert await srs.return_path('"a b"@b.example', "a.example") == '"a b"@b.example'
    rewritten = await srs.return_path("dave@b.example", "a.example")
    assert rewritten.startswith("SRS0=") and rewritten.endswith("=b.example=dave@a.example")
    assert (s.cfg.data_path / SECRET_FILE).exists()  # generated at first use
    assert await srs.bounce_target(rewritten) == "dave@b.example"
    assert await srs.bounce_target("alice@a.example") is None  # not SRS
    assert await srs.bounce_target(rewritten.replace("@a.example", "@elsewhere.example")) \
        is None  # SRS, but not at one of our domains: not ours to judge
    with pytest.raises(SrsError):
        await srs.bounce_target(rewritten.replace("=dave@", "=eve@"))
    # another configured secret: the old addresses no longer verify
    s.cfg.sieve.srs_secret = "a new secret"
    with pytest.raises(SrsError):
        await srs.bounce_target(rewritten)


async def test_rcpt_of_an_srs_address_goes_back_to_the_sender(
        sqlite_services: Services) -> None:
    """At RCPT (services/submission.py): mail from anyone to a valid SRS address of ours is
    relayed to the address it encodes; a forged or expired one is refused with 550 5.7.1
    (Kind.NO_PERM) and counted as nothing else."""
    s = sqlite_services
    await account(s, "alice@a.example")
    srs = SenderRewriting(s.directory, s.cfg.sieve, s.cfg.data_path)
    s.submission.srs = srs
    address = await srs.return_path("dave@b.example", "a.example")
    bounce = await s.submission.start(Client("192.0.2.1"), "")
    route = await s.submission.add_recipient(bounce, address)
    assert (route.address, route.remote) == ("dave@b.example", True)
    assert bounce.recipients == ["dave@b.example"] and bounce.remote == {"dave@b.example"}
    reply = await s.submission.start(Client("192.0.2.1"), "auto@c.example")
    assert (await s.submission.add_recipient(reply, address.lower())).address == \
        "dave@b.example"  # a reply to the return path, case changed on the way
    # an address of ours whose SRS0 encodes one of our own users goes to the mailbox
    own = Srs(srs.scheme().secret, 21).forward("alice@a.example", "a.example")
    assert (await s.submission.add_recipient(bounce, own)).remote is False
    for bad in (address.replace("=dave@", "=eve@"),
                Srs(srs.scheme().secret, 21).forward("dave@b.example", "a.example",
                                                     NOW)):  # years old
        with pytest.raises(MailError) as exc:
            await s.submission.add_recipient(bounce, bad)
        assert exc.value.kind is Kind.NO_PERM and "Invalid SRS address" in exc.value.text
    # without SRS wired (or for another domain's SRS form) nothing changes: relaying denied
    s.submission.srs = None
    with pytest.raises(MailError) as exc:
        await s.submission.add_recipient(bounce, address)
    assert exc.value.kind is Kind.NOT_FOUND


async def test_an_account_that_looks_like_srs_is_an_account(sqlite_services: Services) -> None:
    s = sqlite_services
    await account(s, "srs0-team@a.example")
    s.submission.srs = SenderRewriting(s.directory, s.cfg.sieve, s.cfg.data_path)
    m = await s.submission.start(Client("192.0.2.1"), "dave@b.example")
    route = await s.submission.add_recipient(m, "srs0-team@a.example")
    assert (route.address, route.remote) == ("srs0-team@a.example", False)


async def test_with_batv_the_srs_return_path_is_tagged_and_its_bounce_accepted(
        sqlite_services: Services) -> None:
    """BATV on (services/batv.py): the SRS return path, an address of ours, leaves tagged
    (prvs=…=SRS0=…); the bounce to it passes both checks and goes to the original sender.
    Untagged, the bounce is refused by BATV, as for any address of ours."""
    s = sqlite_services
    await account(s, "alice@a.example")
    s.cfg.batv.enabled = True
    srs = SenderRewriting(s.directory, s.cfg.sieve, s.cfg.data_path)
    s.submission.srs = srs
    rewritten = await srs.return_path("dave@b.example", "a.example")
    on_the_wire = await s.batv.return_path(rewritten)
    assert on_the_wire.startswith("prvs=") and on_the_wire.endswith("=" + rewritten)
    bounce = await s.submission.start(Client("192.0.2.1"), "")
    route = await s.submission.add_recipient(bounce, on_the_wire)
    assert (route.address, route.remote) == ("dave@b.example", True)
    with pytest.raises(MailError) as exc:
        await s.submission.add_recipient(bounce, rewritten)
    assert exc.value.kind is Kind.NO_PERM and "BATV" in exc.value.text
