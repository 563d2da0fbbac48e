"""Bad input to every webmail endpoint: a 4xx, never a 500, and never a hint that a folder the
user may not see exists (issue 23 acceptance).

The endpoints are read from the mounted routes themselves, so an endpoint added later is
covered without editing this file. For each route and method:

- ids that cannot be ids (letters, negative, huge) → 404;
- another user's folder (and a message in it) and an id that never existed → the same status
  and the same text (the id itself aside);
- an unsafe method without the CSRF token → 403;
- junk query parameters and bodies of the wrong type → 4xx.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from starlette.routing import Route

from postroom.web import webmail
from postroom.web.context import WebSettings
from tests.support.server import RunningServer
from tests.support.web import Page, WebClient
from tests.support.webmail import Webmail

STREAMS = {"/webmail/events"}  # never end by themselves; tests/webmail/test_live.py covers them
JUNK_IDS = ["abc", "-1", "0", "99999999999999999999999", "1e5", "%00", "1%2F2"]
JUNK_QUERY = {"page": "-5", "size": "100000000", "sort": "<script>", "order": "sideways",
              "thread": "maybe", "since": "yesterday", "before": "9999-99-99", "flag": "??",
              "q": "x" * 5000, "attach": "2", "current": "zz", "images": "x", "inline": "2",
              "all": "x", "attach_": "y", "reply": "a:b", "forward": "1:", "draft": ":",
              "to": "\r\nBcc: evil@example.net"}


def _routes(server: RunningServer) -> list[tuple[str, str]]:
    """(method, path template) of every webmail route."""
    front = server.server.front
    assert front is not None and front.web is not None
    out: list[tuple[str, str]] = []
    for route in webmail.routes(front.web, _web_settings(server)):
        if isinstance(route, Route) and route.path.startswith("/webmail"):
            for method in sorted(route.methods or {"GET"}):
                if method != "HEAD":
                    out.append((method, route.path))
    return out


def _web_settings(server: RunningServer) -> WebSettings:
    return WebSettings(hostname="mail.example.test", tls=True, max_body=1 << 20,
                       hsts_max_age=0, ops_networks=[], https_port=443)


def _fill(path: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        return values.get(match.group(1), "1")
    return re.sub(r"\{([a-z_]+)(?::[a-z]+)?\}", one, path)


def _call(web: WebClient, method: str, path: str, *, csrf: bool = True) -> Page:
    if method == "GET":
        return web.get(path)
    return web.post(path, {"uid": "1", "action": "read", "target": "1"}, csrf=csrf)


@pytest.fixture(scope="module")
def people(mail: Webmail) -> tuple[WebClient, int, int]:
    """alice logged in; the id of bob's INBOX (hidden from alice) and its message's uid."""
    alice = mail.account("alice@example.test")
    bob = mail.account("bob@example.test")
    mail.deliver(bob, subject="Private")
    mail.deliver(alice, subject="Mine")
    services = mail.server.services

    async def bob_inbox() -> int:
        rec = await services.store.directory.get_account(bob)
        assert rec is not None
        for mb in await services.store.mailboxes.list_owned(rec.id):
            if mb.name == "INBOX":
                return mb.id
        raise AssertionError("bob has no INBOX")
    return mail.client(alice), mail.server.call(bob_inbox()), 1


def _same(a: Page, b: Page, hidden: str, missing: str) -> bool:
    return a.status == b.status and a.text.replace(hidden, "ID") == b.text.replace(missing, "ID")


def test_every_route_is_covered(mail: Webmail) -> None:
    routes = _routes(mail.server)
    assert any(path == "/webmail/tree" for _, path in routes)


def test_hidden_and_missing_folders_answer_alike(mail: Webmail,
                                                 people: tuple[WebClient, int, int]) -> None:
    web, hidden, uid = people
    missing = str(hidden + 100_000)
    problems = []
    for method, template in _routes(mail.server):
        if "{fid" not in template:
            continue
        a = _call(web, method, _fill(template, {"fid": str(hidden), "uid": str(uid)}))
        b = _call(web, method, _fill(template, {"fid": missing, "uid": str(uid)}))
        if a.status >= 500 or b.status >= 500 or not _same(a, b, str(hidden), missing):
            problems.append(f"{method} {template}: {a.status} {a.text[:80]!r} / "
                            f"{b.status} {b.text[:80]!r}")
        if a.status not in (404, 403) and method == "GET":
            problems.append(f"{method} {template}: another user's folder answered {a.status}")
    assert problems == []


def test_junk_ids_are_404_never_500(mail: Webmail, people: tuple[WebClient, int, int]) -> None:
    web, _, _ = people
    problems = []
    for method, template in _routes(mail.server):
        names = re.findall(r"\{([a-z_]+)", template)
        for name in names:
            for junk in JUNK_IDS:
                page = _call(web, method, _fill(template, {name: junk}))
                if page.status >= 500 or (page.status < 400 and method == "GET"
                                          and name in ("fid", "uid")):
                    problems.append(f"{method} {template} {name}={junk}: {page.status}")
    assert problems == []


def test_unsafe_methods_need_the_csrf_token(mail: Webmail,
                                            people: tuple[WebClient, int, int]) -> None:
    web, _, _ = people
    problems = []
    for method, template in _routes(mail.server):
        if method == "GET":
            continue
        page = _call(web, method, _fill(template, {}), csrf=False)
        if page.status != 403:
            problems.append(f"{method} {template}: {page.status}")
    assert problems == []


def test_junk_query_parameters_never_500(mail: Webmail,
                                         people: tuple[WebClient, int, int]) -> None:
    web, _, _ = people
    inbox = web.get("/webmail/").location.rsplit("/", 1)[-1]
    problems = []
    for method, template in _routes(mail.server):
        if method != "GET" or template in STREAMS:
            continue
        path = _fill(template, {"fid": inbox, "uid": "1"})
        for key, value in JUNK_QUERY.items():
            page = web.get(path + "?" + urlencode({key: value}))
            if page.status >= 500:
                problems.append(f"GET {path}?{key}=…: {page.status}")
    assert problems == []


def test_posts_of_the_wrong_content_type_are_4xx(mail: Webmail,
                                                 people: tuple[WebClient, int, int]) -> None:
    web, _, _ = people
    inbox = web.get("/webmail/").location.rsplit("/", 1)[-1]
    problems = []
    for method, template in _routes(mail.server):
        if method == "GET":
            continue
        path = _fill(template, {"fid": inbox, "uid": "1"})
        for ctype, body in (("application/json", b"{not json"), ("text/plain", b"\x00\xff"),
                            ("multipart/form-data; boundary=x", b"--x\r\nbroken")):
            page = web.request(method, path, body, {"Content-Type": ctype,
                                                    "X-CSRF-Token": web.csrf})
            if not 400 <= page.status < 500 and page.status not in (200, 303):
                problems.append(f"{method} {path} {ctype}: {page.status}")
            if page.status >= 500:
                problems.append(f"{method} {path} {ctype}: {page.status}")
    assert problems == []
