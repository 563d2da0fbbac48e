"""Our SPF evaluator against the RFC 7208 test suite (tests/support/spfsuite.py): every
scenario's tests, each through a resolver fed from that scenario's zone data."""

from __future__ import annotations

from typing import Any

import pytest

from postroom.services.mailauth.spf import DEFAULT_EXPLANATION, SpfEvaluator
from tests.support.spfsuite import ZoneLookup, load_scenarios


def _cases() -> list[Any]:
    out = []
    for scenario in load_scenarios():
        for name, test in scenario["tests"].items():
            out.append(pytest.param(scenario["zonedata"], test, id=name))
    return out or [pytest.param(None, None, id="suite-unavailable")]


@pytest.mark.parametrize(("zonedata", "test"), _cases())
async def test_rfc7208_suite(zonedata: dict[str, Any] | None, test: dict[str, Any] | None,
                             ) -> None:
    if zonedata is None or test is None:
        pytest.skip("the pyspf source distribution could not be fetched")
    evaluator = SpfEvaluator(ZoneLookup(zonedata))
    helo = str(test["helo"])
    sender = str(test.get("mailfrom") or "")
    if sender:
        domain = sender.rpartition("@")[2]
    else:  # RFC 7208 §2.4: a null reverse path is checked as postmaster@helo
        sender, domain = f"postmaster@{helo}", helo
    outcome = await evaluator.check_host(str(test["host"]), domain, sender, helo)
    expected = test["result"]
    allowed = expected if isinstance(expected, list) else [expected]
    assert outcome.result.value in allowed, outcome.reason
    explanation = test.get("explanation")
    if explanation and outcome.result.value == "fail":
        want = DEFAULT_EXPLANATION if explanation == "DEFAULT" else explanation
        # case-insensitive: the suite writes IPv6 nibbles (%{i}) in upper case, which RFC 7208
        # §7.3 leaves open (they name DNS labels)
        assert outcome.explanation.lower() == want.lower()
