"""DKIM and ARC verification alone (services/mailauth/dkim.py, arc.py), over key records
served from a zone in memory; messages signed and sealed by dkimpy, the independent
implementation."""

from __future__ import annotations

import asyncio
import base64

import dkim
import nacl.signing

from postroom.services.mailauth.arc import ArcSealer, ArcVerifier, SealingKey
from postroom.services.mailauth.dkim import DkimStatus, DkimVerifier, header_values, key_names
from postroom.services.pipeline import header_section
from tests.support.authmail import DkimKey, message
from tests.support.spfsuite import ZoneLookup

KEY = DkimKey("sel", "signer.test")


def zone(*extra: tuple[str, object]) -> ZoneLookup:
    data: dict[str, list[object]] = {KEY.name: [{"TXT": KEY.record}]}
    for name, item in extra:
        data.setdefault(name, []).append(item)
    return ZoneLookup(data)  # type: ignore[arg-type]


async def verify(data: bytes, lookup: ZoneLookup | None = None, **kw: int) -> list[DkimStatus]:
    sigs = await DkimVerifier(lookup or zone(), **kw).verify(data, header_section(data))
    return [s.status for s in sigs]


async def test_pass_and_what_is_reported() -> None:
    data = KEY.sign(message("a@signer.test", "b@example.test"))
    sigs = await DkimVerifier(zone()).verify(data, header_section(data))
    assert len(sigs) == 1
    sig = sigs[0]
    assert sig.passed and sig.domain == "signer.test" and sig.selector == "sel"
    assert sig.algorithm == "rsa-sha256" and len(sig.b) == 8


async def test_unsigned_message_has_no_results() -> None:
    assert await verify(message("a@signer.test", "b@example.test")) == []


async def test_body_changed_and_header_changed_are_told_apart() -> None:
    data = KEY.sign(message("a@signer.test", "b@example.test"))
    assert await verify(data.replace(b"Hello there", b"Hello world")) == \
        [DkimStatus.BODY_CHANGED]
    assert await verify(data.replace(b"Subject: Hello", b"Subject: Money")) == \
        [DkimStatus.HEADER_CHANGED]


async def test_relaxed_canonicalisation_survives_refolding() -> None:
    data = KEY.sign(message("a@signer.test", "b@example.test"))
    assert await verify(data.replace(b"Subject: Hello", b"Subject:   Hello")) == \
        [DkimStatus.PASS]


async def test_expired_missing_key_bad_key_temporary() -> None:
    expired = KEY.sign(message("a@signer.test", "b@example.test"), expired=True)
    assert await verify(expired) == [DkimStatus.EXPIRED]
    other = DkimKey("other", "signer.test")
    data = other.sign(message("a@signer.test", "b@example.test"))
    assert await verify(data) == [DkimStatus.NO_KEY]
    assert await verify(data, zone((other.name, {"TXT": "v=DKIM1; k=rsa; p=AAAA"}))) == \
        [DkimStatus.PERMERROR]
    assert await verify(data, zone((other.name, {"TXT": "v=DKIM1; k=rsa; p="}))) == \
        [DkimStatus.PERMERROR]  # revoked (RFC 6376 §3.6.1)
    assert await verify(data, zone((other.name, "TIMEOUT"))) == [DkimStatus.TEMPERROR]


async def test_every_signature_up_to_the_limit() -> None:
    other = DkimKey("other", "signer.test")
    data = other.sign(KEY.sign(message("a@signer.test", "b@example.test")))
    assert await verify(data) == [DkimStatus.NO_KEY, DkimStatus.PASS]
    assert await verify(data, max_signatures=1) == [DkimStatus.NO_KEY, DkimStatus.POLICY]


async def test_malformed_signature_is_a_permerror() -> None:
    data = b"DKIM-Signature: v=1; a=rsa-sha256; garbage\r\n" + \
        message("a@signer.test", "b@example.test")
    assert await verify(data) == [DkimStatus.PERMERROR]


async def test_short_rsa_key_refused() -> None:
    small = DkimKey("small", "signer.test", bits=1024)
    data = small.sign(message("a@signer.test", "b@example.test"))
    lookup = zone((small.name, {"TXT": small.record}))
    assert await verify(data, lookup) == [DkimStatus.PASS]
    assert await verify(data, lookup, min_key_bits=2048) == [DkimStatus.PERMERROR]


async def test_ed25519_signature(tmp_path: object) -> None:
    """RFC 8463: an Ed25519 signature verifies (dkimpy needs PyNaCl for it)."""
    key = nacl.signing.SigningKey.generate()
    private = base64.b64encode(bytes(key))
    record = "v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(key.verify_key)).decode()
    msg = message("a@signer.test", "b@example.test")
    sig = dkim.sign(msg, b"ed", b"signer.test", private,
                    signature_algorithm=b"ed25519-sha256",
                    include_headers=[b"from", b"to", b"subject"])
    data = sig + msg
    assert await verify(data, zone(("ed._domainkey.signer.test", {"TXT": record}))) == \
        [DkimStatus.PASS]
    assert await verify(data.replace(b"Subject: Hello", b"Subject: Bye"),
                        zone(("ed._domainkey.signer.test", {"TXT": record}))) == \
        [DkimStatus.HEADER_CHANGED]


def test_key_names_and_folded_values() -> None:
    head = (b"DKIM-Signature: v=1; d=Example.COM;\r\n\ts=Sel; b=x\r\n"
            b"Subject: x\r\nDKIM-Signature: v=1; b=y\r\n")
    values = header_values(head, b"dkim-signature")
    assert len(values) == 2
    assert key_names(values) == ["sel._domainkey.example.com", None]


# -- ARC ---------------------------------------------------------------------------------
def seal(data: bytes, key: DkimKey, srv_id: bytes) -> bytes:
    """One ARC set from ``key`` over ``data``, which must carry an Authentication-Results of
    ``srv_id`` (dkimpy's sealer reads it)."""
    headers = dkim.arc_sign(data, key.selector.encode(), key.domain.encode(), key.private,
                            srv_id)
    return b"".join(headers) + data


async def arc(data: bytes, lookup: ZoneLookup | None = None) -> str:
    outcome = await ArcVerifier(lookup or zone()).verify(data, header_section(data))
    return outcome.result


async def test_arc_none_pass_fail() -> None:
    msg = message("a@origin.test", "b@example.test")
    assert await arc(msg) == "none"
    first = b"Authentication-Results: fwd.signer.test; spf=pass smtp.mailfrom=origin.test\r\n" \
        + msg
    sealed = seal(first, KEY, b"fwd.signer.test")
    assert await arc(sealed) == "pass"
    # a second hop seals again: the chain of two still passes
    second = b"Authentication-Results: fwd.signer.test; arc=pass\r\n" + sealed
    assert await arc(seal(second, KEY, b"fwd.signer.test")) == "pass"
    # the body changed after sealing: the newest ARC-Message-Signature fails
    assert await arc(sealed.replace(b"Hello there", b"Hello thar")) == "fail"
    # the sealer's key is gone
    assert await arc(sealed, ZoneLookup({})) == "fail"
    # a key that cannot be fetched now: fail, with the reason
    outcome = await ArcVerifier(ZoneLookup({KEY.name: ["TIMEOUT"]})).verify(
        sealed, header_section(sealed))
    assert outcome.result == "fail" and "could not be fetched" in outcome.reason


# -- ARC sealing ---------------------------------------------------------------------------
class Keys:
    """A ``SealingKeys`` holding one RSA key (as the DKIM signing keys would provide)."""

    def __init__(self, key: DkimKey) -> None:
        self.key = key

    async def key_for(self, domain: str) -> SealingKey | None:
        if domain != self.key.domain:
            return None
        return SealingKey(self.key.domain, self.key.selector, self.key.private, "rsa-sha256")


def test_our_seal_over_our_results_verifies() -> None:
    """A message judged by the mailauth check (our Authentication-Results on top, as the
    delivery prefix puts it), sealed for a forward, verifies as an ARC chain of one."""
    from postroom.services.mailauth.check import MailAuthCheck, MailAuthSettings
    from postroom.services.mailauth.dmarc import OrgDomains
    from tests.unit.test_mailauth_check import run

    check = MailAuthCheck(MailAuthSettings(authserv_id="fwd.signer.test"),
                          ZoneLookup({"origin.test": [{"TXT": "v=spf1 +all"}]}), OrgDomains())
    data = message("a@origin.test", "b@example.test")
    judged = run(check, "a@origin.test", data)
    delivered = judged.annotations[0].encode() + b"\r\n" + data
    sealer = ArcSealer(Keys(KEY), "fwd.signer.test")

    async def go() -> None:
        sealed = await sealer.seal(delivered, "signer.test") + delivered
        assert sealed.startswith(b"ARC-")
        assert await arc(sealed) == "pass"
        assert await sealer.seal(delivered, "unknown.test") == b""  # no key: not sealed
        assert await sealer.seal(data, "signer.test") == b""  # no results of ours
    asyncio.run(go())
