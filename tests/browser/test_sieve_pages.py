"""WebAdmin's administrators' Sieve scripts in the browser (Debian's Chromium, Playwright): a
global administrator reaches /sieve from the navigation, saves a broken script for a domain
and is shown its line and column, focused, with the cursor put there on choosing the error;
fixed, it is stored and runs before the domain's users' scripts (read back through the
service); axe finds no serious or critical violation, also with the error shown."""

from __future__ import annotations

from postroom.core.actor import Actor
from tests.browser.conftest import WebAdmin
from tests.support.axe import serious
from tests.support.browser import submit

BROKEN = 'require "fileinto";\nif true {\n  fileinto;\n}\n'
GOOD = 'require "fileinto";\nif header :contains "subject" "[spam]" { fileinto "Junk"; }\n'


def test_domain_before_script_in_the_browser(web: WebAdmin) -> None:
    boss = web.account("boss@example.test", role="global")
    context, page = web.logged_in(boss)
    try:
        page.goto("/")
        page.get_by_role("link", name="Sieve", exact=True).click()
        page.wait_for_url("**/sieve")
        page.get_by_role("link", name="example.test", exact=True).click()
        page.wait_for_url("**/sieve/example.test")
        area = page.get_by_label("Script run before users' scripts")
        area.fill(BROKEN)
        page.locator("form[action='/sieve/example.test/before']").get_by_role(
            "button", name="Save", exact=True).click()
        page.wait_for_load_state()
        alert = page.get_by_role("alert")
        assert "Line 3, column 3:" in alert.inner_text()
        assert page.evaluate("document.activeElement.getAttribute('role')") == "alert"
        assert area.get_attribute("aria-invalid") == "true"
        assert area.input_value() == BROKEN
        assert serious(page) == []
        alert.get_by_role("link").first.click()
        assert page.evaluate("document.activeElement.id") == "f-before"
        assert page.evaluate("document.getElementById('f-before').selectionStart") == \
            len('require "fileinto";\nif true {\n  ')
        area.fill(GOOD)
        page.locator("form[action='/sieve/example.test/before']").get_by_role(
            "button", name="Save", exact=True).click()
        page.wait_for_load_state()
        assert "is saved" in page.locator(".flash").inner_text()
        scripts = web.server.services.sieve_scripts
        stored = web.server.call(scripts.admin_get(Actor.operator().principal,
                                                   "example.test", "before"))
        assert stored == GOOD
        submit(page, "Remove")
        assert "is removed" in page.locator(".flash").inner_text()
    finally:
        context.close()
