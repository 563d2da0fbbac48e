"""WebAdmin's directory and folder pages in a real browser (docs/web.md "WebAdmin pages"):
the acceptance scenario (a global administrator with TOTP builds a domain, a user, a group and
a public folder with a posting address, grants the group ``lrsip`` with apply-to-subfolders,
and IMAP shows and honours the grant), the roles, CSRF, and an axe check of every page."""

from __future__ import annotations

import imaplib
import re
import smtplib
from typing import Any
from urllib.parse import quote

import pytest

from postroom.core.actor import Actor
from postroom.services.admin.imports import parse_accounts_csv
from tests.browser.conftest import PASSWORD, WebAdmin
from tests.support.axe import serious
from tests.support.browser import submit
from tests.support.server import wait_for
from tests.support.tls import insecure_context


def imap(web: WebAdmin, address: str) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", web.server.port("imap"), timeout=30)
    client.starttls(insecure_context())
    client.login(address, PASSWORD)
    return client


def flash(page: Any) -> str:
    return str(page.locator(".flash").inner_text())


def test_acceptance_admin_with_totp_shares_a_public_folder(web: WebAdmin) -> None:
    boss = web.account("boss@example.test", role="global")
    operator = web.account("ops@example.test", role="global")  # no 2FA: reads ACLs over IMAP
    context = web.context()
    page = context.new_page()
    web.login(page, boss)  # first login: enrols TOTP
    page.goto("/domains")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_load_state()
    web.login(page, boss)  # second login: password, then a TOTP code
    assert boss in web.secrets

    # a domain
    page.goto("/domains")
    page.get_by_label("Domain name").fill("accept.test")
    submit(page, "Add domain")
    assert page.get_by_role("heading", name="Domain accept.test").is_visible()

    # a user
    page.goto("/users/new")
    page.get_by_label("Address").fill("member@accept.test")
    page.get_by_label("Display name").fill("Member")
    page.get_by_label("Password").fill(PASSWORD)
    submit(page, "Add account")
    assert "Account member@accept.test added." in flash(page)

    # a group with the user in it
    page.goto("/groups")
    page.get_by_label("Group address").fill("readers@accept.test")
    page.get_by_label("Members").fill("member@accept.test")
    submit(page, "Add group")
    assert page.get_by_role("heading", name="Group readers@accept.test").is_visible()

    # a public folder with a posting address, and a subfolder
    page.goto("/public-folders")
    page.get_by_label("Folder name").fill("Projects")
    page.get_by_label("Posting address").fill("projects@accept.test")
    submit(page, "Create folder")
    page.get_by_label("Folder name").fill("Projects/Q1")
    submit(page, "Create folder")
    assert page.get_by_role("cell", name="projects@accept.test").is_visible()

    # the group gets lrsip, applied to the subfolders
    page.get_by_role("link", name="Projects", exact=True).click()
    page.wait_for_load_state()
    page.get_by_label("A group").check()
    page.get_by_label("Address of the user or group").fill("readers@accept.test")
    page.get_by_label("Custom letters", exact=True).check()
    page.get_by_label("Custom rights letters").fill("lrsip")
    page.get_by_label("Then copy this folder's permissions to all its subfolders").check()
    submit(page, "Save access")
    assert "Copied to 1 subfolders" in flash(page)
    assert page.get_by_role("row", name=re.compile("group readers@accept.test")).is_visible()
    context.close()

    # IMAP: GETACL shows the grant on the folder and its subfolder (RFC 4314 §3.3) ...
    ops = imap(web, operator)
    for folder in ("Public Folders/Projects", "Public Folders/Projects/Q1"):
        typ, data = ops.getacl(f'"{folder}"')
        assert typ == "OK", data
        assert b"$readers@accept.test lrsip" in data[0], data
    ops.logout()
    # ... and it works: the member posts to the folder's address (the p right) and reads it
    with smtplib.SMTP("127.0.0.1", web.server.port("submission"), timeout=30) as smtp:
        smtp.starttls(context=insecure_context())
        smtp.login("member@accept.test", PASSWORD)
        smtp.sendmail("member@accept.test", ["projects@accept.test"],
                      b"From: member@accept.test\r\nTo: projects@accept.test\r\n"
                      b"Subject: plans\r\n\r\nthe plan\r\n")
    member = imap(web, "member@accept.test")

    def delivered() -> bool:
        typ, data = member.status('"Public Folders/Projects"', "(MESSAGES)")
        return typ == "OK" and b"MESSAGES 1" in data[0]  # type: ignore[operator]
    wait_for(delivered, 30, "the posted message in the public folder")
    typ, data = member.select('"Public Folders/Projects"')
    assert typ == "OK" and data[0] == b"1"
    typ, data = member.fetch("1", "(BODY[])")
    assert typ == "OK" and b"the plan" in data[0][1]  # type: ignore[index]
    member.logout()


def test_a_domain_admin_cannot_see_another_domains_users(web: WebAdmin) -> None:
    web.account("far@other.test")
    dom = web.account("dom@example.test", role="example.test")
    context = web.context()
    page = context.new_page()
    web.login(page, dom)
    page.goto("/users")
    assert page.get_by_role("link", name=dom).is_visible()
    assert page.get_by_text("far@other.test").count() == 0
    for path in ("/users/far@other.test", "/users?domain=other.test",
                 "/folders?account=far@other.test", "/groups?domain=other.test"):
        assert page.goto(path).status == 404, path
    assert page.goto("/domains").status == 404  # a global administrator's page
    context.close()


def test_a_user_reaches_only_self_service(web: WebAdmin) -> None:
    plain = web.account("plain@example.test")
    web.account("dom@example.test", role="example.test")
    context = web.context()
    page = context.new_page()
    web.login(page, plain)
    assert page.url.endswith("/me")
    for path in ("/users", "/users/new", "/users/import", "/domains", "/aliases", "/groups",
                 "/admins", "/public-folders", "/folders/acl?folder=Projects",
                 f"/users/{plain}", f"/folders?account={plain}"):
        assert page.goto(path).status == 404, path
    for path in ("/me/sharing", "/me/sharing/acl?folder=INBOX", "/me/multipop"):
        assert page.goto(path).status == 200, path
    # and the user shares a folder of their own through the same editor
    page.goto("/me/sharing/acl?folder=" + quote("Sent"))
    page.get_by_label("Address of the user or group").fill("dom@example.test")
    page.get_by_label("Read", exact=True).check()
    submit(page, "Save access")
    assert "dom@example.test may now: see the folder, read messages" in flash(page)
    context.close()


@pytest.mark.parametrize("script", [True, False], ids=["with-js", "without-js"])
def test_csv_import_shows_its_progress(web: WebAdmin, script: bool) -> None:
    """With the script the page polls the JSON status and redraws in place; without it the
    page reloads itself until the import is done."""
    boss = web.account("boss@example.test", role="global")
    context, page = web.logged_in(boss, java_script_enabled=script)
    page.goto("/users/import")
    prefix = "withjs" if script else "nojs"
    csv = "address,password,name\n" + "".join(
        f"{prefix}{i}@example.test,pw-import-{i:04d},Imported {i}\n" for i in range(40))
    page.get_by_label("CSV file").set_input_files(
        {"name": "people.csv", "mimeType": "text/csv", "buffer": csv.encode()})
    submit(page, "Import")
    assert "/users/import/" in page.url
    if script:
        page.evaluate("window.notReloaded = true")
    status = page.get_by_role("status").filter(has_text="accounts")
    status.filter(has_text="Done: 40 of 40 accounts created.").wait_for(timeout=60_000)
    assert page.locator("#import-bar").get_attribute("value") == "40"
    if script:
        assert page.evaluate("window.notReloaded === true")  # redrawn in place
    page.goto(f"/users?q={prefix}&per=50")
    assert page.get_by_text("40 accounts matching").is_visible()
    context.close()


def test_a_form_without_its_csrf_token_is_refused(web: WebAdmin) -> None:
    boss = web.account("boss@example.test", role="global")
    context, page = web.logged_in(boss)
    page.goto("/domains")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    request = context.request  # shares the browser context's session cookie
    refused = request.post("/domains", form={"name": "nocsrf.test"}, max_redirects=0)
    assert refused.status == 403
    wrong = request.post("/domains", form={"name": "nocsrf.test", "csrf": "x" * 43},
                         max_redirects=0)
    assert wrong.status == 403
    accepted = request.post("/domains", form={"name": "withcsrf.test", "csrf": token},
                            max_redirects=0)
    assert accepted.status == 303
    assert web.server.call(web.server.services.store.directory.get_domain("nocsrf.test")) \
        is None
    context.close()


def _pages(web: WebAdmin) -> list[str]:
    """Every page this part builds, with objects to show."""
    services = web.server.services
    op = Actor.operator()

    async def objects() -> tuple[str, int]:
        await services.admin.aliases.add(op, "info@example.test", ["boss@example.test"])
        await services.admin.groups.add(op, "team@example.test", ["boss@example.test"])
        await services.admin.folders.create(op, None, "Axe", folder_address="axe@example.test")
        job = await services.admin.imports.start(Actor(
            await services.directory.principal_for(
                await services.directory.require_account("boss@example.test")), op.origin),
            parse_accounts_csv("axe1@example.test,pw-123456789\n"))
        remote = await services.admin.multipop.add(op, "boss@example.test", host="pop.example.net",
                                                   username="boss", password="remote-pw")
        assert services.eas is not None  # a phone, for the devices page's table
        await services.eas.devices.admit(await services.directory.principal_for(
            await services.directory.require_account("boss@example.test")), "AxePhone",
            "iPhone", "FolderSync", "16.1", None, "Apple-iPhone/2001")
        return job.id, remote.id
    job, remote = web.server.call(objects())
    return ["/domains", "/domains/example.test", "/domains/example.test/remove", "/users",
            "/users?q=example&per=25", "/users/new", "/users/boss@example.test",
            "/users/boss@example.test/remove", "/users/import", f"/users/import/{job}",
            "/aliases", "/aliases/info@example.test", "/groups", "/groups/team@example.test",
            "/admins", "/public-folders",
            "/folders?account=boss@example.test", "/folders/acl?folder=Axe",
            "/folders/acl?account=boss@example.test&folder=INBOX", "/me/sharing",
            "/me/sharing/acl?folder=INBOX", "/me/multipop", f"/me/multipop/{remote}",
            "/users/boss@example.test/multipop", "/users/boss@example.test/devices",
            "/sieve", "/sieve/global", "/sieve/example.test"]


def test_every_page_passes_axe(web: WebAdmin) -> None:
    boss = web.account("boss@example.test", role="global")
    context, page = web.logged_in(boss)
    failures: dict[str, list[str]] = {}
    # the checker itself sees a known violation (an unlabelled input: critical)
    page.set_content("<html lang='en'><title>t</title><main><input type='text'></main></html>")
    assert any(line.startswith("label (critical)") for line in serious(page))

    def check(label: str) -> None:
        bad = serious(page)
        if bad:
            failures[label] = bad

    for path in _pages(web):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        check(path)
    # forms drawn again with their errors
    page.goto("/domains")
    page.get_by_label("Domain name").fill("bad_name!")
    submit(page, "Add domain")
    check("/domains (with an error)")
    # the error summary takes the focus; its link leads to the field
    assert page.evaluate("document.activeElement.getAttribute('role')") == "alert"
    assert page.get_by_label("Domain name").get_attribute("aria-invalid") == "true"
    page.goto("/folders/acl?folder=Axe")
    page.get_by_label("Address of the user or group").fill("ghost@example.test")
    submit(page, "Save access")
    check("/folders/acl (with an error)")
    context.close()
    assert not failures, failures
