"""axe-core accessibility checks of a Playwright page (axe-playwright-python from PyPI, axe
run inside Debian's Chromium): the one place that says which violations fail a test (serious
and critical) and how they are reported, for WebAdmin's and webmail's browser tests alike."""

from __future__ import annotations

from typing import Any

SERIOUS = ("serious", "critical")


def serious(page: Any) -> list[str]:
    """The serious and critical violations on ``page`` as it is now, one readable line each
    (rule, impact, help, the first few elements)."""
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v.get("impact") in SERIOUS]
