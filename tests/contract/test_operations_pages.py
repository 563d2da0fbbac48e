"""WebAdmin's operations pages (web/pages/ops_*.py) driven in-process over ASGI with a real
store (SQLite) and the real services, as a global administrator and as others: every page
renders, every action reaches its service and redirects, refusals come back as alerts with a
4xx status, bad input never gives a 500. (The login itself is the session layer's; the
browser tests in tests/browser/ go through it.)"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

import pytest_asyncio
from starlette.applications import Starlette

from postroom.app import Services
from postroom.config import MingerConfig
from postroom.config_web import WebOperationsConfig
from postroom.core.actor import Actor, Origin
from postroom.core.principal import Principal
from postroom.core.records import NewEntry
from postroom.obs import maillog
from postroom.obs.log import TextFormatter
from postroom.services.dashboard import Dashboard
from postroom.services.maillog_search import MailLogSearch
from postroom.web import flash
from postroom.web.context import WebServices, WebSettings
from postroom.web.identity import WebUser
from postroom.web.pages import operations_ui
from tests.support.factory import account, message

ORIGIN = Origin("webadmin", "192.0.2.10")


def flash_of(headers: dict[str, str]) -> str:
    """The message a redirect leaves for the next page (web/flash.py: a sealed cookie)."""
    value = headers.get("set-cookie", "").split(";")[0].partition("=")[2]
    return flash.unseal(value)


class Client:
    """Raw ASGI calls into the pages with a chosen user (what the session layer would set)."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.user: WebUser | None = None

    async def call(self, method: str, path: str, form: dict[str, Any] | None = None,
                   ctype: str = "application/x-www-form-urlencoded",
                   ) -> tuple[int, dict[str, str], str]:
        body = urlencode(form or {}, doseq=True).encode()
        path, _, query = path.partition("?")
        scope = {"type": "http", "method": method, "path": unquote(path),
                 "raw_path": path.encode(),
                 "query_string": query.encode(), "root_path": "", "scheme": "https",
                 "headers": [(b"content-type", ctype.encode()),
                             (b"content-length", str(len(body)).encode()),
                             (b"host", b"mail.example.test")],
                 "client": ("192.0.2.10", 5000), "server": ("127.0.0.1", 1000),
                 "http_version": "1.1", "state": {"user": self.user}}
        sent = False
        out: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
                out["headers"] = {k.decode().lower(): v.decode()
                                  for k, v in message["headers"]}
            elif message["type"] == "http.response.body":
                out["body"] += message.get("body", b"")

        await self.app(scope, receive, send)
        return out["status"], out["headers"], out["body"].decode()

    async def get(self, path: str) -> tuple[int, dict[str, str], str]:
        return await self.call("GET", path)

    async def post(self, path: str, **form: Any) -> tuple[int, dict[str, str], str]:
        return await self.call("POST", path, {"csrf": "t", **form})


@pytest_asyncio.fixture
async def client(sqlite_services: Services, tmp_path: Path) -> AsyncIterator[Client]:
    s = sqlite_services
    board = Dashboard(s.store, s.metrics, storage_interval=0)
    search = MailLogSearch(str(tmp_path / "mail.log"))
    web = WebServices(None, s.metrics, None, s.admin, s.auth,  # type: ignore[arg-type]
                      s.sessions, s.two_factor, s.app_passwords, s.own_account,
                      dashboard=board, maillog=search)
    settings = WebSettings("mail.example.test", True, 1 << 20, 0, [], 443,
                           operations=WebOperationsConfig(page_size=10),
                           minger=MingerConfig(enabled=True, secret="s3cret-value"))
    app = Starlette(routes=operations_ui.routes(web, settings))
    c = Client(app)
    await s.directory.add_domain("example.test")
    c.user = WebUser(Actor(Principal(None, "root@example.test", None, global_admin=True),
                           ORIGIN), "sid", "t")
    yield c


def alert(html: str) -> str:
    m = re.search(r'role="alert"[^>]*>([^<]*)<', html)
    return m.group(1) if m else ""


async def test_dashboard_shows_figures_and_moves(client: Client,
                                                 sqlite_services: Services) -> None:
    status, _, html = await client.get("/")
    assert status == 200 and "<svg" in html and "Storage per domain" in html
    sqlite_services.metrics.connection("smtp")
    sqlite_services.metrics.smtp_accepted()
    status, headers, body = await client.get("/dashboard.json")
    figures = json.loads(body)
    assert status == 200 and headers["cache-control"] == "no-store"
    traffic = {s["name"]: s["per_minute"][-1] for s in figures["traffic"]}
    assert traffic["accepted"] == 1
    status, _, fragment = await client.get("/dashboard/figures")
    assert status == 200 and "<html" not in fragment and "smtp" in fragment
    assert 'style="' not in html  # the CSP allows no style attribute


async def test_dashboard_by_role(client: Client, sqlite_services: Services) -> None:
    boss = await account(sqlite_services, "boss@example.test")
    domain_id = boss.domain_id
    assert domain_id is not None
    client.user = WebUser(Actor(Principal(boss.account_id, boss.address, domain_id,
                                          admin_domain_ids=frozenset({domain_id})), ORIGIN),
                          "sid", "t")
    status, _, html = await client.get("/")
    assert status == 200 and "for global administrators" in html and "example.test" in html
    client.user = WebUser(Actor(boss, ORIGIN), "sid", "t")  # a plain user
    status, headers, _ = await client.get("/")
    assert status == 303 and headers["location"] == "/me"
    assert (await client.get("/queue"))[0] == 404  # not for this role: as if absent


async def test_queue_viewer_and_actions(client: Client, sqlite_services: Services) -> None:
    s = sqlite_services
    blob = s.store.blobs.put_bytes(message("queued"))
    [entry_id] = await s.queue.enqueue([NewEntry("a@example.test", ["x@remote.invalid"],
                                                 blob, b"")])
    status, _, html = await client.get("/queue")
    assert status == 200 and "x@remote.invalid" in html
    status, headers, _ = await client.post(f"/queue/{entry_id}/hold")
    assert status == 303 and "held" in flash_of(headers)
    assert (await s.queue.get(entry_id)).state == "hold"
    status, _, html = await client.get(f"/queue/{entry_id}")
    assert "Release" in html and 'id="entry-state">hold' in html
    assert "<dt>Subject</dt><dd>queued</dd>" in html  # the header section, not the body
    status, _, html = await client.post(f"/queue/{entry_id}/retry")
    assert status == 422 and "held" in alert(html)
    assert (await client.post(f"/queue/{entry_id}/release"))[0] == 303
    assert (await s.queue.get(entry_id)).state == "ready"
    # delete asks first; confirmed, it is gone
    status, _, html = await client.post(f"/queue/{entry_id}/delete")
    assert status == 200 and 'name="confirm" value="yes"' in html
    assert (await s.queue.get(entry_id)).id == entry_id
    status, _, _ = await client.post(f"/queue/{entry_id}/delete", confirm="yes")
    assert status == 303
    assert (await client.get(f"/queue/{entry_id}"))[0] == 404
    # bounce: confirmed, then the queue manager returns it to its sender
    [other] = await s.queue.enqueue([NewEntry("a@example.test", ["y@remote.invalid"], blob,
                                              b"")])
    status, _, html = await client.get(f"/queue/{other}/bounce")
    assert status == 200 and "Bounce entry" in html
    assert (await client.post(f"/queue/{other}/bounce", confirm="yes"))[0] == 303
    assert (await s.queue.get(other)).param_dict()["bounce"] is True
    status, _, html = await client.get("/audit?action=queue.")
    assert "queue.bounce" in html and "queue.delete" in html and "queue.hold" in html
    for path in ("/queue/abc", "/queue/99999999999999999999999", "/queue/1/explode"):
        assert (await client.get(path))[0] == 404
    assert (await client.get("/queue?page=zz&state=bogus&q=" + "x" * 5000))[0] == 200
    status, _, _ = await client.call("POST", f"/queue/{entry_id}/hold", {"csrf": "t"},
                                     ctype="application/json")
    assert status == 415


async def test_gateways_atrn_and_minger(client: Client, sqlite_services: Services) -> None:
    status, _, html = await client.get("/gateways")
    assert status == 200 and 'id="minger-state">answering queries' in html
    assert "s3cret-value" not in html
    status, headers, _ = await client.post("/gateways", domain="partner.example",
                                           verify="static",
                                           recipients="a@partner.example\nb@partner.example")
    assert status == 303 and headers["location"].startswith("/gateways/partner.example")
    status, _, html = await client.get("/gateways/partner.example")
    assert status == 200 and "a@partner.example" in html
    status, _, _ = await client.post("/gateways/partner.example", hold="on", verify="static",
                                     drop_recipient="b@partner.example")
    assert status == 303
    rec, _ = await sqlite_services.admin.gateways.show(Actor.operator(), "partner.example")
    assert rec.recipients == ("a@partner.example",)
    status, _, html = await client.post("/gateways", domain="example.test")
    assert status == 422 and "one of our own domains" in alert(html)
    status, _, html = await client.post("/gateways/partner.example/remove")
    assert status == 200 and "confirm" in html
    assert (await client.post("/gateways/partner.example/remove", confirm="yes"))[0] == 303
    assert (await client.get("/gateways/partner.example"))[0] == 404
    # ATRN providers
    status, headers, _ = await client.post("/atrn", name="isp", host="odmr.isp.example",
                                           username="us", password="pw-secret-1",
                                           interval="600", domains="example.test")
    assert status == 303
    status, _, html = await client.get("/atrn/isp")
    assert status == 200 and "odmr.isp.example" in html and "pw-secret-1" not in html
    status, _, html = await client.post("/atrn/isp", host="odmr.isp.example", username="us",
                                        interval="5", tls="starttls")
    assert status == 422 and "at least" in alert(html)
    assert (await client.post("/atrn/isp", host="odmr.isp.example", username="us",
                              interval="900", tls="starttls", disabled="on"))[0] == 303
    assert not (await sqlite_services.admin.atrn.show(Actor.operator(), "isp")).enabled
    status, _, html = await client.post("/atrn", name="x", host="h", username="u",
                                        password="p", port="99999999999")
    assert status == 422 and alert(html)
    status, _, html = await client.post("/atrn", name="x", host="h", username="u",
                                        password="p", interval="0")
    assert status == 422 and "at least" in alert(html)  # 0 is not "the default"
    # a password is kept as typed, spaces and all (a trimmed one would fail at the provider)
    assert (await client.post("/atrn/isp", host="odmr.isp.example", username="us",
                              interval="900", tls="starttls",
                              password=" pw with spaces "))[0] == 303
    rec = await sqlite_services.atrn.one("isp")
    assert sqlite_services.atrn.password(rec) == " pw with spaces "
    assert (await client.post("/atrn/isp/remove", confirm="yes"))[0] == 303


async def test_dkim_keys_and_dns_records(client: Client) -> None:
    status, _, html = await client.get("/dkim")
    assert status == 200 and "example.test" in html
    status, headers, _ = await client.post("/dkim", domain="example.test",
                                           algorithm="ed25519")
    assert status == 303 and headers["location"].startswith("/dkim/example.test")
    status, _, html = await client.get("/dkim/example.test")
    assert status == 200 and "._domainkey.example.test" in html
    assert "v=DKIM1; k=ed25519" in html and 'data-copy="rv-' in html
    selector = re.search(r"<th scope=\"row\">([a-z0-9]+e)</th>", html)
    assert selector is not None
    sel = selector.group(1)
    status, _, html = await client.post("/dkim", domain="example.test", algorithm="ed25519")
    assert status == 409 and "already has" in alert(html)
    status, _, html = await client.post("/dkim", domain="example.test", algorithm="dsa")
    assert status == 422
    assert (await client.post("/dkim/example.test/rotate", algorithm="ed25519",
                              delay="60"))[0] == 303
    status, _, html = await client.post(f"/dkim/example.test/keys/{sel}/remove")
    assert status == 200 and "Remove key" in html
    status, _, html = await client.post(f"/dkim/example.test/keys/{sel}/remove",
                                        confirm="yes")
    assert status == 409 and alert(html)  # the signing key stays (the service's rule)
    status, _, html = await client.get("/dkim/example.test")
    pending = re.findall(r'/dkim/example.test/keys/([a-z0-9]+)/activate"', html)
    assert len(pending) == 1
    assert (await client.post(f"/dkim/example.test/keys/{pending[0]}/activate"))[0] == 303
    status, _, html = await client.get("/dkim/example.test")
    assert f"/keys/{pending[0]}/retire" in html
    assert (await client.get("/dkim/nowhere.example"))[0] == 404
    status, headers, _ = await client.post("/dkim/batv", drop_old="")
    assert status == 303 and "BATV key" in flash_of(headers)


async def test_screening_block_and_unblock(client: Client) -> None:
    status, _, _ = await client.post("/screening/block", network="198.51.100.0/24",
                                     duration="3600", reason="tests")
    assert status == 303
    status, _, html = await client.get("/screening")
    assert "198.51.100.0/24" in html and "tests" in html
    status, _, html = await client.post("/screening/block", network="not-an-ip", duration="")
    assert status == 422 and "not an IP address" in alert(html)
    assert (await client.post("/screening/block", network="192.0.2.1",
                              duration="77"))[0] == 422
    assert (await client.post("/screening/unblock", network="198.51.100.7"))[0] == 303
    status, _, html = await client.post("/screening/unblock", network="198.51.100.7")
    assert status == 404 and "not blocked" in alert(html)


async def test_audit_log_filters_and_pages(client: Client, sqlite_services: Services) -> None:
    op = Actor.operator()
    for n in range(12):
        await sqlite_services.admin.domains.add(op, f"d{n}.example")
    status, _, html = await client.get("/audit")
    assert status == 200 and "d11.example" in html and "d1.example<" not in html
    older = re.search(r'href="(/audit\?[^"]+)">Older records', html)
    assert older is not None
    status, _, html = await client.get(older.group(1).replace("&amp;", "&"))
    assert status == 200 and "d1.example" in html and "d11.example" not in html
    status, _, html = await client.get("/audit?target=d3.")
    assert "d3.example" in html and "d4.example" not in html
    status, _, html = await client.get("/audit?since=yesterday")
    assert status == 422 and "YYYY-MM-DD" in alert(html)
    assert (await client.get("/audit?before=abc&since=2020-01-01"))[0] == 200


async def test_mail_log_search(client: Client, tmp_path: Path) -> None:
    handler = logging.FileHandler(tmp_path / "mail.log")
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("postroom.mail")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        maillog.smtp_accept(7, "192.0.2.1", "h", "a@example.net", ["b@example.test"],
                            "<id-7@example.net>", 100, None, True)
        maillog.outcome("delivered", 7, "b@example.test", "INBOX", "2.0.0")
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)
        handler.close()
    status, _, html = await client.get("/maillog")
    assert status == 200 and "Search" in html
    status, _, html = await client.get("/maillog?q=%3Cid-7%40example.net%3E")
    assert status == 200 and "Queue id 7" in html and "delivered" in html
    status, _, html = await client.get("/maillog?q=abc&kind=queue")
    assert status == 422 and "number" in alert(html)


def test_queue_entry_headers_survive_malformed_fields() -> None:
    from postroom.web.pages.ops_queue import _headers

    shown = _headers(b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.net>\r\n"
                     b"To: <<<@@@>>>, \"unterminated\r\nSubject: =?x-unknown?q?abc?=\r\n"
                     b"Message-ID: <1@x>")
    assert ("From", "Jürgen <j@example.net>") in shown
    assert [name for name, _ in shown] == ["From", "To", "Subject", "Message-ID"]
    assert _headers(b"") == [] and _headers(b"\xff\xfe garbage") == []


async def test_odd_names_in_paths_are_never_a_500(client: Client) -> None:
    names = ["%C3%A9t%C3%A9.example", "a..b", "x" * 300, "-", "xn--", "%00", "a%0D%0Ab",
             "..", "%2e%2e", "a b", "UPPER.Example", "%F0%9F%98%80"]
    for name in names:
        for method, path in (("GET", f"/gateways/{name}"), ("POST", f"/gateways/{name}"),
                             ("POST", f"/gateways/{name}/remove"), ("GET", f"/atrn/{name}"),
                             ("POST", f"/atrn/{name}"), ("GET", f"/dkim/{name}"),
                             ("POST", f"/dkim/{name}/rotate"),
                             ("POST", f"/dkim/{name}/keys/{name}/retire"),
                             ("GET", f"/queue/{name}")):
            form = {"csrf": "t", "confirm": "yes", "verify": "none", "host": "h",
                    "username": "u"} if method == "POST" else None
            status, headers, _ = await client.call(method, path, form)
            assert status < 500, (method, path, status)
            assert "\n" not in headers.get("location", "")
