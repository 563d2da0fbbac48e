"""Webmail's filters page over HTTP (/webmail/settings/filters): rules added, edited, moved and
deleted by plain form posts make the user's active script "webmail", which files a message
delivered over SMTP into a folder (read over IMAP); the out-of-office form with dates; refused
values next to their fields (422); the raw editor with a broken script (line and column),
check, save, activate, deactivate, delete; another active script is never replaced without
the user's choice; administrators' scripts are not shown; bad paths are 404."""

from __future__ import annotations

import re
import time

import pytest

from postroom.core.actor import Actor
from postroom.services.sieve.rules import SCRIPT, parse_generated
from tests.support.web import WebClient
from tests.support.webmail import Webmail

ALICE = "alice@filters.test"
BOB = "bob@filters.test"
HOME = "/webmail/settings/filters"
RULE = {"number": "", "name": "Lists", "enabled": "on", "match": "all",
        "cond-0-field": "list", "cond-0-op": "contains", "cond-0-value": "dev.lists.example",
        "cond-1-field": "from", "cond-1-op": "contains", "cond-1-value": "",
        "cond-2-field": "from", "cond-2-op": "contains", "cond-2-value": "",
        "folder": "Lists"}


def scripts_of(mail: Webmail, address: str) -> dict[str, tuple[bool, str]]:
    services = mail.server.services

    async def read() -> dict[str, tuple[bool, str]]:
        scripts = services.sieve_scripts
        op = Actor.operator().principal
        return {i.name: (i.active, await scripts.get(op, i.name, address))
                for i in await scripts.list(op, address)}
    return mail.server.call(read())


def make_folder(mail: Webmail, address: str, name: str) -> None:
    imap = mail.imap(address)
    try:
        imap.create(name)
    finally:
        imap.logout()


@pytest.fixture(scope="module")
def alice(mail: Webmail) -> WebClient:
    mail.account(ALICE)
    make_folder(mail, ALICE, "Lists")
    make_folder(mail, ALICE, "Bills")
    web = mail.client(ALICE)
    assert web.get(HOME).status == 200
    return web


def test_the_settings_page_links_to_filters(alice: WebClient) -> None:
    page = alice.get("/webmail/settings")
    assert 'href="/webmail/settings/filters"' in page.text


def test_a_rule_from_the_form_files_mail_delivered_over_smtp(mail: Webmail,
                                                              alice: WebClient) -> None:
    page = alice.get(HOME + "/rules/new")
    assert page.status == 200 and '<option value="Lists">Lists</option>' in page.text
    page = alice.post(HOME + "/rules", RULE)
    assert page.status == 303 and page.location == HOME, page.text
    assert "Rule saved." in alice.follow(page).text
    scripts = scripts_of(mail, ALICE)
    active, text = scripts[SCRIPT]
    assert active
    assert 'fileinto "Lists";' in text and 'header :contains "list-id"' in text
    rules = parse_generated(text)
    assert rules is not None and rules.rules[0].folder == "Lists"
    page = alice.get(HOME)
    assert "Lists" in page.text and "Mailing list contains “dev.lists.example”" in page.text
    message = (b"From: dev@lists.example\r\nTo: " + ALICE.encode() + b"\r\n"
               b"Subject: build 42\r\nList-Id: Developers <dev.lists.example>\r\n"
               b"Message-ID: <b42@lists.example>\r\n\r\nGreen.\r\n")
    mail.deliver(ALICE, sender="dev@lists.example", message=message)
    assert _wait_for(mail, ALICE, "Lists", "build 42")
    imap = mail.imap(ALICE)
    try:
        imap.select("INBOX", readonly=True)
        _, found = imap.search(None, "SUBJECT", '"build 42"')
        assert found == [b""], "the message was filed, not kept in INBOX"
    finally:
        imap.logout()


def _wait_for(mail: Webmail, address: str, folder: str, subject: str) -> bool:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        imap = mail.imap(address)
        try:
            imap.select(folder, readonly=True)
            _, found = imap.search(None, "SUBJECT", f'"{subject}"')
            if found[0]:
                return True
        finally:
            imap.logout()
        time.sleep(0.2)
    return False


def test_edit_move_and_delete_rules(mail: Webmail, alice: WebClient) -> None:
    second = {**RULE, "name": "Bills", "cond-0-field": "subject", "cond-0-value": "invoice",
              "folder": "Bills", "mark_read": "on"}
    assert alice.post(HOME + "/rules", second).status == 303
    names = [r.name for r in _rules(mail)]
    assert names[-2:] == ["Lists", "Bills"]
    n = len(names)
    page = alice.get(f"{HOME}/rules/{n}")
    assert page.status == 200 and 'value="invoice"' in page.text
    assert re.search(r'id="f-mark_read" name="mark_read" type="checkbox" checked', page.text)
    assert alice.post(f"{HOME}/rules/{n}/up").status == 303
    assert [r.name for r in _rules(mail)][-2:] == ["Bills", "Lists"]
    assert alice.post(f"{HOME}/rules/{n - 1}/down").status == 303
    assert [r.name for r in _rules(mail)][-2:] == ["Lists", "Bills"]
    edited = {**second, "number": str(n), "name": "Invoices", "flag": "on"}
    assert alice.post(HOME + "/rules", edited).status == 303
    last = _rules(mail)[-1]
    assert (last.name, last.flag, last.mark_read) == ("Invoices", True, True)
    assert alice.post(f"{HOME}/rules/{n}/delete").status == 303
    assert [r.name for r in _rules(mail)] == names[:-1]


def _rules(mail: Webmail) -> list:  # type: ignore[type-arg]
    rules = parse_generated(scripts_of(mail, ALICE)[SCRIPT][1])
    assert rules is not None
    return list(rules.rules)


@pytest.mark.parametrize("change, field, word", [
    ({"folder": ""}, "folder", "choose at least one thing to do"),
    ({"forward": "not an address"}, "forward", "is not an email address"),
    ({"folder": "Lists", "discard": "on"}, "discard", "exclude each other"),
    ({"cond-1-field": "size", "cond-1-value": "x"}, "cond-1-field", "field:"),
])
def test_refused_rules_are_422_next_to_their_field(alice: WebClient, change: dict[str, str],
                                                   field: str, word: str) -> None:
    page = alice.post(HOME + "/rules", {**RULE, **change})
    assert page.status == 422, page.text
    assert word in page.text
    assert f'id="f-{field}-error"' in page.text and 'aria-invalid="true"' in page.text
    assert 'role="alert"' in page.text and 'value="dev.lists.example"' in page.text


def test_vacation_with_dates(mail: Webmail, alice: WebClient) -> None:
    form = {"enabled": "on", "start_date": "2026-12-20", "start_time": "",
            "end_date": "2027-01-05", "end_time": "", "subject": "Away",
            "text": "Back in January.\r\nAnn", "days": "3", "addresses": ""}
    page = alice.post(HOME + "/vacation", form)
    assert page.status == 303, page.text
    text = scripts_of(mail, ALICE)[SCRIPT][1]
    assert 'currentdate :zone "+0000" :value "ge" "date" "2026-12-20"' in text
    assert ':days 3 :subject "Away"' in text
    page = alice.get(HOME)
    assert 'value="2026-12-20"' in page.text and ">Back in January.\nAnn</textarea>" in page.text
    assert "Scheduled" in page.text
    # a time is kept as an instant
    page = alice.post(HOME + "/vacation", {**form, "start_time": "08:30"})
    assert page.status == 303
    text = scripts_of(mail, ALICE)[SCRIPT][1]
    assert '"iso8601" "2026-12-20T08:30:00Z"' in text
    assert 'value="08:30"' in alice.get(HOME).text
    # the rules are still there
    assert "fileinto" in text


@pytest.mark.parametrize("change, field", [
    ({"start_date": "2026-02-30"}, "start_date"),
    ({"end_date": "2026-12-01"}, "end_date"),
    ({"end_time": "10:00", "end_date": ""}, "end_date"),
    ({"text": ""}, "text"),
    ({"days": "0"}, "days"),
    ({"days": "x"}, "days"),
    ({"addresses": "nope"}, "addresses"),
])
def test_refused_vacations_are_422_next_to_their_field(alice: WebClient,
                                                       change: dict[str, str],
                                                       field: str) -> None:
    form = {"enabled": "on", "start_date": "2026-12-20", "start_time": "",
            "end_date": "2027-01-05", "end_time": "", "subject": "Away",
            "text": "Back soon", "days": "3", "addresses": "", **change}
    page = alice.post(HOME + "/vacation", form)
    assert page.status == 422, page.text
    assert f'id="f-{field}-error"' in page.text


def test_the_raw_editor(mail: Webmail, alice: WebClient) -> None:
    page = alice.get(HOME + "/scripts")
    assert page.status == 200 and 'id="f-source"' in page.text
    broken = 'require "fileinto";\nif header :contains "subject" "x" {\n  filenito "X";\n}\n'
    page = alice.post(HOME + "/scripts", {"new": "on", "name": "mine", "source": broken,
                                          "do": "save"})
    assert page.status == 422, page.text
    assert "Line 3, column 3:" in page.text and "filenito" in page.text
    assert 'aria-invalid="true" aria-describedby="f-source-error"' in page.text
    assert "  filenito &#34;X&#34;;" in page.text  # as typed, escaped
    assert "mine" not in scripts_of(mail, ALICE)
    good = 'require "fileinto";\nif header :contains "subject" "x" { fileinto "Nowhere"; }\n'
    page = alice.post(HOME + "/scripts", {"new": "on", "name": "mine", "source": good,
                                          "do": "check"})
    assert page.status == 200 and "The script is valid." in page.text
    assert "no such folder" in page.text  # the service's warning
    page = alice.post(HOME + "/scripts", {"new": "on", "name": "mine", "source": good,
                                          "do": "save", "activate": "on"})
    assert page.status == 303, page.text
    scripts = scripts_of(mail, ALICE)
    assert scripts["mine"][0] and not scripts[SCRIPT][0]
    # another script is active: the page says so, and saving the form does not replace it
    page = alice.get(HOME)
    assert 'id="other-active"' in page.text and "“mine”" in page.text
    page = alice.post(HOME + "/rules", {**RULE, "name": "while mine is active"})
    assert page.status == 303
    assert "not in use" in alice.follow(page).text
    scripts = scripts_of(mail, ALICE)
    assert scripts["mine"][0] and not scripts[SCRIPT][0]
    # the user's choice
    page = alice.post(HOME + "/use")
    assert page.status == 303
    scripts = scripts_of(mail, ALICE)
    assert scripts[SCRIPT][0] and not scripts["mine"][0]
    # the stored script, in the editor
    page = alice.get(HOME + "/scripts?name=mine")
    assert page.status == 200 and "fileinto &#34;Nowhere&#34;" in page.text
    assert alice.post(HOME + "/scripts/delete", {"name": "mine"}).status == 303
    assert "mine" not in scripts_of(mail, ALICE)
    # deactivate, then activate again
    assert alice.post(HOME + "/scripts/deactivate", {"name": SCRIPT}).status == 303
    assert not scripts_of(mail, ALICE)[SCRIPT][0]
    assert 'id="none-active"' in alice.get(HOME).text
    assert alice.post(HOME + "/scripts/activate", {"name": SCRIPT}).status == 303
    assert scripts_of(mail, ALICE)[SCRIPT][0]
    # the active script cannot be deleted
    page = alice.post(HOME + "/scripts/delete", {"name": SCRIPT})
    assert "deactivate it first" in alice.follow(page).text


def test_a_hand_edit_of_the_form_script_is_shown(mail: Webmail, alice: WebClient) -> None:
    text = scripts_of(mail, ALICE)[SCRIPT][1]
    page = alice.post(HOME + "/scripts", {"name": SCRIPT, "source": text + "# mine\n",
                                          "do": "save"})
    assert page.status == 303, page.text
    assert 'id="edited"' in alice.get(HOME).text
    # saving the form writes the script again
    assert alice.post(HOME + "/rules/1/down").status == 303
    assert 'id="edited"' not in alice.get(HOME).text


def test_administrators_scripts_are_not_shown(mail: Webmail) -> None:
    mail.account(BOB)
    services = mail.server.services

    async def put() -> None:
        op = Actor.operator().principal
        await services.sieve_scripts.admin_put(op, "filters.test", "before",
                                               "# domain-secret\nkeep;\n")
    mail.server.call(put())
    bob = mail.client(BOB)
    page = bob.get(HOME)
    assert page.status == 200 and "domain-secret" not in page.text
    assert "before" not in re.sub(r"<[^>]+>", " ", page.text).split("Sieve scripts")[-1]
    assert bob.get(HOME + "/scripts?name=before").status == 404


@pytest.mark.parametrize("path", ["/rules/0", "/rules/abc", "/rules/99", "/rules/%C2%B2",
                                  "/rules/1234567"])
def test_bad_rule_numbers_are_404(alice: WebClient, path: str) -> None:
    assert alice.get(HOME + path).status == 404


def test_bad_posts_are_not_500(alice: WebClient) -> None:
    assert alice.post(HOME + "/rules/99/delete").status == 404
    assert alice.post(HOME + "/rules/1/sideways").status == 404
    assert alice.post(HOME + "/scripts/explode", {"name": "x"}).status == 404
    assert alice.post(HOME + "/scripts/activate", {"name": "nope"}).status == 404
    assert alice.post(HOME + "/rules", {**RULE, "number": "abc"}).status == 404
    page = alice.post(HOME + "/scripts", {"new": "on", "name": "", "source": "keep;",
                                          "do": "save"})
    assert page.status == 422 and "must not be empty" in page.text
    page = alice.post(HOME + "/scripts", {"new": "on", "name": "big",
                                          "source": "#" * 70000, "do": "save"})
    assert page.status in (409, 413), page.status
    assert alice.post(HOME + "/rules", {**RULE, "csrf": "forged"}).status == 403
