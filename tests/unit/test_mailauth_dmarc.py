"""DMARC alone (services/mailauth/dmarc.py): record parsing, discovery at the organizational
domain, strict and relaxed alignment, p/sp/pct; and Authentication-Results (results.py)."""

from __future__ import annotations

import pytest

from postroom.services.mailauth import results
from postroom.services.mailauth.dmarc import (
    DmarcEvaluator,
    DmarcResult,
    OrgDomains,
    author_domains,
    parse_record,
)
from tests.support.spfsuite import ZoneLookup

ORG = OrgDomains()


def evaluator(records: dict[str, object], sample: float = 0.0) -> DmarcEvaluator:
    data = {name: [value if value == "TIMEOUT" else {"TXT": value}]
            for name, value in records.items()}
    return DmarcEvaluator(ZoneLookup(data), ORG, lambda: sample)  # type: ignore[arg-type]


def head(author: str) -> bytes:
    return f"From: Someone <{author}>\r\nSubject: x\r\n".encode()


def test_organizational_domain_from_the_public_suffix_list() -> None:
    assert ORG("mail.example.com") == "example.com"
    assert ORG("a.b.example.co.uk") == "example.co.uk"
    assert ORG("example.com") == "example.com"


def test_record_parsing() -> None:
    r = parse_record("v=DMARC1; p=reject; sp=none; pct=20; adkim=s; aspf=s", False)
    assert r is not None and (r.p, r.sp, r.pct, r.adkim, r.aspf) == \
        ("reject", "none", 20, "s", "s")
    r = parse_record("v=DMARC1; p=quarantine", False)
    assert r is not None and (r.sp, r.pct, r.adkim) == ("quarantine", 100, "r")
    # RFC 7489 §6.6.3: no valid p= → p=none when rua= is valid, else no processing
    assert parse_record("v=DMARC1; p=bogus", False) is None
    r = parse_record("v=DMARC1; p=bogus; rua=mailto:d@example.com", False)
    assert r is not None and r.p == "none"
    assert parse_record("v=DMARC2; p=reject", False) is None


def test_author_domains() -> None:
    assert author_domains(head("a@Example.COM")) == ["example.com"]
    assert author_domains(b"From: a@x.example, b@y.example\r\n") == ["x.example", "y.example"]
    assert author_domains(b"Subject: no from\r\n") is None
    assert author_domains(b"From: a@x.example\r\nFrom: b@y.example\r\n") is None
    assert author_domains(b"From: undisclosed\r\n") is None
    assert author_domains("From: a@bücher.example\r\n".encode()) == ["xn--bcher-kva.example"]


async def test_pass_by_spf_or_dkim_alignment() -> None:
    ev = evaluator({"_dmarc.example.com": "v=DMARC1; p=reject"})
    o = await ev.evaluate(head("a@example.com"), "bounce.example.com", [])
    assert o.result is DmarcResult.PASS and o.spf_aligned and not o.dkim_aligned
    o = await ev.evaluate(head("a@example.com"), None, ["mail.example.com"])
    assert o.result is DmarcResult.PASS and o.dkim_aligned
    o = await ev.evaluate(head("a@example.com"), "other.org", ["other.org"])
    assert o.result is DmarcResult.FAIL and o.disposition == "reject"


async def test_a_temporary_error_on_an_aligned_identifier_is_no_fail() -> None:
    """DKIM for mail.example.com could not be checked (its key timed out): the message might
    have passed, so temperror, not a rejection for good."""
    ev = evaluator({"_dmarc.example.com": "v=DMARC1; p=reject"})
    o = await ev.evaluate(head("a@example.com"), "other.org", [], ["mail.example.com"])
    assert o.result is DmarcResult.TEMPERROR and o.disposition == "none"
    o = await ev.evaluate(head("a@example.com"), "other.org", [], ["other.org"])
    assert o.result is DmarcResult.FAIL  # the unsure identifier does not align


async def test_strict_alignment() -> None:
    ev = evaluator({"_dmarc.example.com": "v=DMARC1; p=reject; adkim=s; aspf=s"})
    o = await ev.evaluate(head("a@example.com"), "bounce.example.com", ["mail.example.com"])
    assert o.result is DmarcResult.FAIL
    o = await ev.evaluate(head("a@example.com"), None, ["example.com"])
    assert o.result is DmarcResult.PASS


async def test_subdomain_policy_from_the_organizational_record() -> None:
    ev = evaluator({"_dmarc.example.com": "v=DMARC1; p=reject; sp=quarantine"})
    o = await ev.evaluate(head("a@news.example.com"), None, [])
    assert o.result is DmarcResult.FAIL and o.policy == "quarantine"
    assert o.record is not None and o.record.at_org
    o = await ev.evaluate(head("a@example.com"), None, [])
    assert o.policy == "reject"


async def test_pct_sampling_downgrades() -> None:
    records = {"_dmarc.example.com": "v=DMARC1; p=reject; pct=10"}
    o = await evaluator(records, sample=0.05).evaluate(head("a@example.com"), None, [])
    assert o.disposition == "reject"
    o = await evaluator(records, sample=0.5).evaluate(head("a@example.com"), None, [])
    assert o.policy == "reject" and o.disposition == "quarantine"


async def test_none_temperror_permerror() -> None:
    ev = evaluator({"_dmarc.example.com": "TIMEOUT"})
    assert (await ev.evaluate(head("a@example.com"), None, [])).result is \
        DmarcResult.TEMPERROR
    ev = evaluator({})
    assert (await ev.evaluate(head("a@example.com"), None, [])).result is DmarcResult.NONE
    assert (await ev.evaluate(b"Subject: x\r\n", None, [])).result is DmarcResult.PERMERROR
    two = evaluator({"_dmarc.example.com": "v=DMARC1; p=reject",
                     "_dmarc.example.org": "v=DMARC1; p=reject"})
    # two records at one name: no policy
    dup = DmarcEvaluator(ZoneLookup({"_dmarc.example.com": [
        {"TXT": "v=DMARC1; p=reject"}, {"TXT": "v=DMARC1; p=none"}]}), ORG)
    assert (await dup.evaluate(head("a@example.com"), None, [])).result is DmarcResult.NONE
    # several From: domains: the strictest outcome counts
    o = await two.evaluate(b"From: a@example.com, b@example.org\r\n", "example.com", [])
    assert o.result is DmarcResult.FAIL and o.domain == "example.org"


@pytest.mark.parametrize(("value", "authserv"), [
    (b" mx.example.org; spf=pass", "mx.example.org"),
    (b" (comment) MX.Example.ORG 1; none", "mx.example.org"),
    (b"\r\n\tmx.example.org;\r\n\tdkim=pass", "mx.example.org"),
    (b" other.example; spf=pass", "other.example"),
])
def test_authserv_id(value: bytes, authserv: str) -> None:
    assert results.authserv_id_of(value) == authserv


def test_forged_ranges_cover_whole_folded_fields() -> None:
    h = (b"Received: x\r\n"
         b"Authentication-Results: mx.example.org; spf=pass\r\n\tdkim=pass\r\n"
         b"Subject: y\r\n"
         b"authentication-results: other.example; spf=pass\r\n"
         b"Authentication-Results: mx.example.org; dmarc=pass\r\n")
    ranges = results.forged_ranges(h, "MX.example.org")
    kept = bytearray()
    pos = 0
    for start, end in ranges:
        kept += h[pos:start]
        pos = end
    kept += h[pos:]
    assert kept == (b"Received: x\r\nSubject: y\r\n"
                    b"authentication-results: other.example; spf=pass\r\n")


def test_header_format() -> None:
    line = results.header("mx.example.org", [
        results.method("spf", "pass", "ok (fine)", [("smtp.mailfrom", "a@example.com")]),
        results.method("dkim", "none"),
        results.method("x", "pass", "", [("p.q", "has space")])])
    assert line == ("Authentication-Results: mx.example.org;\r\n"
                    "\tspf=pass (ok fine) smtp.mailfrom=a@example.com;\r\n"
                    "\tdkim=none;\r\n"
                    '\tx=pass p.q="has space"')
    assert results.header("mx.example.org", []) == \
        "Authentication-Results: mx.example.org; none"
