"""Bad input never takes the mail-authentication checks down: arbitrary SPF records, DMARC
records, signature fields and header sections give a result (permerror, none, fail), never an
exception (Hypothesis)."""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.services.mailauth import results
from postroom.services.mailauth.dkim import DkimVerifier
from postroom.services.mailauth.dmarc import DmarcEvaluator, OrgDomains, parse_record
from postroom.services.mailauth.spf import SpfEvaluator, SpfResult
from postroom.services.mailauth.spf import parse_record as parse_spf
from postroom.services.mailauth.spf_macro import SpfSyntax
from tests.support.spfsuite import ZoneLookup

ORG = OrgDomains()
TERMS = st.sampled_from(["a", "mx", "ptr", "all", "-all", "~all", "?all", "include:",
                         "exists:", "ip4:", "ip6:", "redirect=", "exp=", "a/", "mx//",
                         "%{", "%{d}", "%{ir}", "%{l1r-}", "%%", "%_", "%-", ".", "/24",
                         "//64", "x.test", "192.0.2.1", "::1", "=", ":", " ", "  "])
RECORDS = st.lists(TERMS, max_size=12).map(lambda parts: "v=spf1 " + "".join(parts))


@settings(max_examples=300, deadline=None)
@given(RECORDS | st.text(max_size=80))
def test_spf_record_parser_only_raises_syntax(text: str) -> None:
    with contextlib.suppress(SpfSyntax):
        parse_spf(text)


@settings(max_examples=150, deadline=None)
@given(RECORDS, RECORDS)
def test_spf_evaluation_always_gives_a_result(first: str, second: str) -> None:
    zone = ZoneLookup({"x.test": [{"TXT": first}, {"A": "192.0.2.1"}],
                       "y.x.test": [{"TXT": second}, {"MX": [0, "x.test"]}]})
    outcome = asyncio.run(SpfEvaluator(zone).check_host("192.0.2.1", "x.test", "a@x.test",
                                                        "h.test"))
    assert isinstance(outcome.result, SpfResult)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_dmarc_record_parser(text: str) -> None:
    parse_record("v=DMARC1;" + text, False)
    parse_record(text, True)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_header_sections_of_any_shape(head: bytes) -> None:
    results.forged_ranges(head, "mx.ours.test")
    results.authserv_id_of(head)
    ev = DmarcEvaluator(ZoneLookup({}), ORG)
    asyncio.run(ev.evaluate(head, None, []))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_dkim_signature_fields_of_any_shape(value: bytes, body: bytes) -> None:
    data = b"DKIM-Signature: " + value.replace(b"\r", b"").replace(b"\n", b"") + \
        b"\r\nFrom: a@x.test\r\n\r\n" + body
    head = data.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    sigs = asyncio.run(DkimVerifier(ZoneLookup({})).verify(data, head))
    assert all(not s.passed for s in sigs)
