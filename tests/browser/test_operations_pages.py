"""WebAdmin's operations pages in a real browser (Debian's Chromium, driven by Playwright):
a global administrator logs in with a password and TOTP (enrolling on the first login, as
the server requires of administrators), visits every operations page, performs one action on
each, and axe finds no serious or critical accessibility violation on any of them.

The server is real and in-process (tests/browser/ops_support.py): mail is sent over SMTP
submission; remote mail goes to a closed port, so it waits in the queue; the log goes to a
file, which the mail-log page searches.
"""

from __future__ import annotations

import re
import smtplib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from postroom.core.actor import Actor
from tests.browser.ops_support import OpsHost, axe_problems, browser, ops_host
from tests.support.browser import login
from tests.support.server import wait_for

__all__ = ["browser", "ops_host"]  # fixtures, imported for pytest

PAGES = ["/", "/queue", "/gateways", "/dkim", "/dkim/example.test", "/screening", "/audit",
         "/maillog", "/maillog?q=nobody%40example.test"]
_secrets: dict[str, str] = {}  # address -> TOTP secret, once enrolled


def navigate(page: Any, target: Any) -> None:
    """Click what submits a form or follows a link, and wait for the next page to load."""
    with page.expect_navigation(wait_until="load"):
        target.click()


def log_in(page: Any, host: OpsHost, address: str = "", password: str = "",
           next_path: str = "") -> None:
    """Log in through the pages (tests/support/browser.py), by default as the global
    administrator; an administrator's first login enrols TOTP."""
    address, password = address or host.admin, password or host.password
    secret = login(page, host.base, address, password, _secrets.get(address), next_path)
    if secret:
        _secrets[address] = secret
    if address == host.admin:
        host.totp_secret = _secrets.get(address, "")


@pytest.fixture(scope="module")
def admin(browser: Any, ops_host: OpsHost) -> Iterator[Any]:
    """A browser context logged in as the global administrator (once per module)."""
    context = browser.new_context(ignore_https_errors=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"],
                              origin=ops_host.base)
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, ops_host)
    page.close()
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def tab(admin: Any) -> Iterator[Any]:
    page = admin.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        page.close()


def send(host: OpsHost, recipient: str, msgid: str) -> None:
    with smtplib.SMTP("127.0.0.1", host.port("submission"), timeout=20) as s:
        s.login(host.sender, host.sender_password)
        s.sendmail(host.sender, [recipient],
                   f"From: {host.sender}\r\nTo: {recipient}\r\nSubject: ops test\r\n"
                   f"Message-ID: {msgid}\r\n\r\nhello\r\n".encode())


def test_every_operations_page_passes_axe(tab: Any, ops_host: OpsHost) -> None:
    problems: list[str] = []
    for path in PAGES:
        response = tab.goto(ops_host.base + path)
        assert response is not None and response.status == 200, path
        assert tab.locator("h1").count() == 1, path
        assert tab.locator("main#main").count() == 1, path
        problems += axe_problems(tab)
    assert problems == []


def test_login_is_required_and_with_totp(browser: Any, ops_host: OpsHost,
                                         admin: Any) -> None:
    context = browser.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        page.goto(ops_host.base + "/queue")
        assert "/login?next=%2Fqueue" in page.url  # no session: the login page, with the way
        log_in(page, ops_host, next_path="/queue")  # back, which the login then takes
        assert page.url.endswith("/queue")
        assert ops_host.totp_secret  # the administrator logged in with a second factor
    finally:
        context.close()


def test_a_domain_administrator_sees_their_own_storage_only(browser: Any,
                                                            ops_host: OpsHost) -> None:
    srv = ops_host.srv
    boss, password = srv.add_user("boss", "Boss-pass-12345")
    srv.call(srv.services.admin.roles.set(Actor.operator(), boss, "example.test", True))
    context = browser.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        log_in(page, ops_host, boss, password)
        page.goto(ops_host.base + "/")
        assert "for global administrators" in page.locator("main").inner_text()
        assert page.get_by_role("table", name="Storage per domain").is_visible()
        assert page.locator("svg").count() == 0  # no server-wide traffic charts
        assert axe_problems(page) == []
        assert page.goto(ops_host.base + "/queue").status == 404
        assert page.get_by_role("link", name="Queue").count() == 0  # not in the navigation
    finally:
        context.close()


def test_dashboard_figures_move_when_mail_is_sent(tab: Any, ops_host: OpsHost) -> None:
    tab.goto(ops_host.base + "/")
    caption = tab.locator("figcaption", has_text="Messages accepted")

    def accepted() -> int:
        text = caption.inner_text()
        found = re.search(r"\((\d+) this minute", text)
        last = re.search(r": (\d+)/min", text)
        assert found and last, text
        return int(found.group(1)) + int(last.group(1))

    before = accepted()
    send(ops_host, ops_host.sender, "<dash-1@ops.example>")
    # the page's own script fetches the figures again (dashboard_refresh = 1 s)
    figures = tab.locator("#figures")
    wait_for(lambda: figures.get_attribute("data-updated") is not None, timeout=20,
             what="the script refreshing the figures")
    deadline = time.monotonic() + 20
    while accepted() <= before and time.monotonic() < deadline:
        tab.wait_for_timeout(300)
    assert accepted() > before
    assert axe_problems(tab) == []


def test_queue_hold_and_release(tab: Any, ops_host: OpsHost) -> None:
    send(ops_host, "someone@unreachable.example", "<queue-1@ops.example>")
    srv = ops_host.srv

    def entry() -> int | None:
        rows = srv.call(srv.services.admin.queue.list(Actor.operator()))
        found = [r.id for r in rows if "someone@unreachable.example" in r.recipients]
        return found[0] if found else None
    wait_for(lambda: entry() is not None, what="the message in the queue")
    entry_id = entry()
    tab.goto(ops_host.base + "/queue?q=unreachable")
    navigate(tab, tab.get_by_role("link", name=f"Queue entry {entry_id}"))
    navigate(tab, tab.get_by_role("button", name="Hold"))
    assert tab.locator("#entry-state").inner_text() == "hold"
    assert tab.get_by_role("status").inner_text() == f"Queue entry {entry_id} held."
    navigate(tab, tab.get_by_role("button", name="Release"))
    assert tab.locator("#entry-state").inner_text() in ("ready", "active")
    # a destructive action asks first
    navigate(tab, tab.get_by_role("button", name="Delete…"))
    assert tab.get_by_role("heading", name=f"Delete queue entry {entry_id}").is_visible()
    assert axe_problems(tab) == []
    navigate(tab, tab.get_by_role("link", name="Cancel"))
    assert tab.locator("#entry-state").count() == 1


def test_gateway_and_atrn_provider(tab: Any, ops_host: OpsHost) -> None:
    tab.goto(ops_host.base + "/gateways")
    tab.get_by_label("Domain", exact=True).fill("partner.example")
    tab.get_by_label("Deliver to host[:port]").fill("mx.partner.example")
    navigate(tab, tab.get_by_role("button", name="Add gateway"))
    assert tab.get_by_role("heading", name="Gateway partner.example").is_visible()
    problems = axe_problems(tab)
    navigate(tab, tab.get_by_role("button", name="Remove gateway…"))
    problems += axe_problems(tab)  # the confirmation page
    navigate(tab, tab.get_by_role("button", name="Remove gateway partner.example"))
    assert "Gateway partner.example removed" in tab.get_by_role("status").inner_text()
    # a refusal is announced as an alert, with the form kept
    tab.get_by_label("Domain", exact=True).fill("example.test")
    navigate(tab, tab.get_by_role("button", name="Add gateway"))
    assert "one of our own domains" in tab.get_by_role("alert").inner_text()
    assert tab.get_by_label("Domain", exact=True).input_value() == "example.test"
    problems += axe_problems(tab)  # the page with its alert
    # an ATRN provider: added, shown, switched off
    tab.get_by_label("Name", exact=True).fill("isp.example")
    tab.get_by_label("Host", exact=True).fill("odmr.isp.example")
    tab.get_by_label("User name").fill("customer")
    tab.get_by_label("Password").fill("provider-secret-1")
    navigate(tab, tab.get_by_role("button", name="Add provider"))
    assert tab.get_by_role("heading", name="ATRN provider isp.example").is_visible()
    assert "provider-secret-1" not in tab.content()
    problems += axe_problems(tab)
    tab.get_by_label("Switched off").check()
    navigate(tab, tab.get_by_role("button", name="Save changes"))
    expect(tab.get_by_role("status")).to_have_text("ATRN provider isp.example updated.")
    assert "(disabled)" in tab.locator("dl.facts").inner_text()
    assert problems == []


def test_dkim_key_and_its_dns_record(tab: Any, ops_host: OpsHost) -> None:
    tab.goto(ops_host.base + "/dkim")
    tab.get_by_label("Domain", exact=True).select_option("example.test")
    tab.get_by_label("ed25519").check()
    navigate(tab, tab.get_by_role("button", name="Generate keys"))
    assert tab.url.split("?")[0].endswith("/dkim/example.test")
    record = tab.locator("code.record", has_text="v=DKIM1; k=ed25519")
    assert record.count() == 1
    row = tab.locator("tr", has=record)
    assert "._domainkey.example.test" in row.inner_text()
    button = row.get_by_role("button", name=re.compile("value of TXT record"))
    assert button.is_visible()  # the script shows the copy buttons
    button.click()
    expect(tab.locator("#copy-status")).to_have_text(re.compile("^Copied"))
    copied = tab.evaluate("navigator.clipboard.readText()")
    assert copied == record.inner_text().strip()
    assert axe_problems(tab) == []  # with its keys, the visible copy buttons and the status


def test_block_and_unblock_a_network(tab: Any, ops_host: OpsHost) -> None:
    tab.goto(ops_host.base + "/screening")
    tab.get_by_label(re.compile("^Address or network \\(e.g.")).fill("203.0.113.0/24")
    tab.get_by_label("Reason").fill("browser test")
    navigate(tab, tab.get_by_role("button", name="Block", exact=True))
    assert tab.locator("tbody tr", has_text="203.0.113.0/24").count() == 1
    navigate(tab, tab.get_by_role("button", name="Unblock 203.0.113.0/24"))
    assert "Unblocked: 203.0.113.0/24" in tab.get_by_role("status").inner_text()
    assert tab.locator("tbody tr", has_text="203.0.113.0/24").count() == 0
    # the audit log shows both, filtered by action
    tab.goto(ops_host.base + "/audit")
    tab.get_by_label("Action starts with").fill("screening.")
    navigate(tab, tab.get_by_role("button", name="Filter"))
    text = tab.locator("table").inner_text()
    assert "screening.block" in text and "screening.unblock" in text
    assert "queue.hold" not in text
    assert axe_problems(tab) == []


def test_mail_log_finds_a_delivered_message(tab: Any, ops_host: OpsHost) -> None:
    msgid = "<delivered-1@ops.example>"
    send(ops_host, ops_host.sender, msgid)
    wait_for(lambda: "delivered queue_id=" in ops_host.log_file.read_text()
             and msgid in ops_host.log_file.read_text(), what="the delivery in the log")
    tab.goto(ops_host.base + "/maillog")
    tab.get_by_label("Address, queue id or Message-ID").fill(msgid)
    tab.get_by_label("Search for").select_option("msgid")
    navigate(tab, tab.get_by_role("button", name="Search"))
    trail = tab.locator("section.trail")
    wait_for(lambda: "delivered" in trail.first.inner_text(), timeout=10)
    assert trail.count() == 1
    text = trail.inner_text()
    assert msgid in text and "smtp accept" in text and "where=INBOX" in text
    assert axe_problems(tab) == []


def test_keyboard_only(tab: Any, ops_host: OpsHost) -> None:
    """The skip link comes first; a form is filled and sent with Tab, typing and Enter."""
    tab.goto(ops_host.base + "/screening")
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.textContent") == "Skip to content"
    tab.keyboard.press("Enter")
    assert tab.evaluate("document.activeElement.id") == "main"

    def tab_to(element_id: str) -> None:
        for _ in range(60):
            tab.keyboard.press("Tab")
            if tab.evaluate("document.activeElement.id") == element_id:
                return
        raise AssertionError(f"Tab never reached #{element_id}")

    tab_to("s-network")
    tab.keyboard.type("192.0.2.77")
    tab_to("s-reason")
    tab.keyboard.type("keyboard")
    tab.keyboard.press("Enter")  # submits the form
    expect(tab.get_by_role("status")).to_have_text("192.0.2.77/32 blocked.")
    button = tab.get_by_role("button", name="Unblock 192.0.2.77/32")
    for _ in range(60):
        tab.keyboard.press("Tab")
        if button.evaluate("b => b === document.activeElement"):
            break
    tab.keyboard.press("Enter")
    expect(tab.get_by_role("status")).to_have_text("Unblocked: 192.0.2.77/32.")
