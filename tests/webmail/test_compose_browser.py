"""Writing mail in Debian's Chromium: rich text, an attachment dropped on the compose area,
autosave to Drafts, address completion by keyboard, sending; axe on the compose page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import RunningServer, server_config
from tests.support.webmail import WEBMAIL, Webmail
from tests.support.webmail_compose import COMPOSE_CONFIG, fetch_all, parse, received

BAD_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("compose-browser")),
                                      extra=WEBMAIL + COMPOSE_CONFIG
                                      + ["web.webmail.draft_autosave=1"]))
    try:
        yield srv
    finally:
        srv.stop()


DROP = """([name, text]) => {
  const data = new DataTransfer();
  data.items.add(new File([text], name, {type: "text/plain"}));
  const form = document.getElementById("compose");
  for (const type of ["dragenter", "dragover", "drop"]) {
    form.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true,
                                            cancelable: true}));
  }
}"""


def test_rich_text_with_a_dropped_attachment_autosaves_and_sends(
        mail_browser: Webmail) -> None:
    mail = mail_browser
    alice = mail.account("alice@example.test")
    bob = mail.account("bob@example.test")
    context, page = mail.browser(alice)
    try:
        page.goto("/webmail/compose")
        page.wait_for_url("**/webmail/compose?cid=*")
        page.get_by_label("Rich text").check()
        editor = page.locator("#compose-editor")
        assert editor.is_visible() and not page.locator("#compose-text").is_visible()
        page.locator("#compose-to").fill(bob)
        page.locator("#compose-subject").fill("Rich hello")
        editor.click()
        page.keyboard.type("Hello ")
        page.keyboard.press("Control+b")
        page.keyboard.type("bold")
        page.keyboard.press("Control+b")
        page.keyboard.type(" world")
        page.evaluate(DROP, ["notes.txt", "dropped notes"])
        page.locator("#compose-file-list li", has_text="notes.txt").wait_for()
        page.locator("#compose-saved", has_text="Saved at").wait_for(timeout=10000)
        drafts = fetch_all(mail, alice, "Drafts")
        assert len(drafts) == 1 and b"Rich hello" in drafts[0][1]
        page.get_by_role("button", name="Send").click()
        page.wait_for_url("**/webmail/f/**")
    finally:
        context.close()
    got = parse(received(mail, bob, "INBOX", "Rich hello")[1])
    html = got.get_body(preferencelist=("html",))
    plain = got.get_body(preferencelist=("plain",))
    assert html is not None and "<b>bold</b>" in html.get_content()
    assert plain is not None and "Hello bold world" in plain.get_content()
    attachments = list(got.iter_attachments())
    assert [(a.get_filename(), a.get_payload(decode=True)) for a in attachments] == [
        ("notes.txt", b"dropped notes")]
    assert fetch_all(mail, alice, "Drafts", wait_for=0) == []


def test_address_completion_works_by_keyboard(mail_browser: Webmail) -> None:
    mail = mail_browser
    alice = mail.account("alice@example.test")
    mail.account("bobby@example.test")
    context, page = mail.browser(alice)
    try:
        page.goto("/webmail/compose")
        field = page.locator("#compose-cc")
        assert field.get_attribute("role") == "combobox"
        field.click()
        page.keyboard.type("bobb")
        option = page.get_by_role("option", name="bobby@example.test")
        option.wait_for()
        assert field.get_attribute("aria-expanded") == "true"
        page.keyboard.press("ArrowDown")
        assert field.get_attribute("aria-activedescendant") == option.get_attribute("id")
        page.keyboard.press("Enter")
        assert field.input_value().startswith("bobby@example.test")
        assert field.get_attribute("aria-expanded") == "false"
        page.keyboard.type("bo")
        page.get_by_role("listbox").wait_for()
        page.keyboard.press("Escape")
        assert page.locator("#compose-cc-list").is_hidden()
    finally:
        context.close()


def test_the_compose_page_passes_axe(mail_browser: Webmail) -> None:
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
    axe = axe_module.Axe()
    mail = mail_browser
    alice = mail.account("alice@example.test")
    context, page = mail.browser(alice)
    failures: dict[str, list[str]] = {}

    def check(label: str) -> None:
        results: Any = axe.run(page)
        bad = [f"{v['id']} ({v['impact']}): {v['help']} — "
               f"{[n['target'] for n in v['nodes']][:3]}"
               for v in results.response["violations"] if v["impact"] in BAD_IMPACTS]
        if bad:
            failures[label] = bad
    try:
        page.goto("/webmail/compose")
        check("compose")
        page.get_by_label("Rich text").check()
        check("compose (rich text)")
        page.locator("#compose-to").fill("not an address")
        page.get_by_role("button", name="Send").click()
        page.locator("#compose-error").wait_for()
        check("compose (with an error)")
    finally:
        context.close()
    assert not failures, failures


def test_without_javascript_attach_remove_save_and_send_work(mail_browser: Webmail,
                                                              tmp_path: Path) -> None:
    mail = mail_browser
    alice = mail.account("alice@example.test")
    bob = mail.account("bob@example.test")
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_text("first file")
    two.write_text("second file")
    context, page = mail.browser(alice, java_script_enabled=False)
    try:
        page.goto("/webmail/compose")
        assert page.locator("#compose-editor").is_hidden()  # plain text without a script
        page.locator("#compose-to").fill(bob)
        page.locator("#compose-subject").fill("No script needed")
        page.locator("#compose-text").fill("Plain words.")
        page.locator("#compose-files-input").set_input_files([str(one), str(two)])
        page.get_by_role("button", name="Attach", exact=True).click()
        page.locator("#compose-file-list li", has_text="two.txt").wait_for()
        assert page.locator("#compose-subject").input_value() == "No script needed"
        page.get_by_role("button", name="Remove one.txt").click()
        page.wait_for_load_state()
        assert page.locator("#compose-file-list li", has_text="one.txt").count() == 0
        # without a script the button posts the form: wait for that page, not for a
        # "Draft saved" text an earlier post (Attach) may have left on the old one
        with page.expect_navigation():
            page.get_by_role("button", name="Save draft").click()
        page.get_by_text("Draft saved at").wait_for()
        assert len(fetch_all(mail, alice, "Drafts")) == 1
        page.get_by_role("button", name="Send").click()
        page.wait_for_url("**/webmail/f/**")
    finally:
        context.close()
    got = parse(received(mail, bob, "INBOX", "No script needed")[1])
    assert [a.get_filename() for a in got.iter_attachments()] == ["two.txt"]
    assert fetch_all(mail, alice, "Drafts", wait_for=0) == []
