"""WebAdmin's page of administrators' Sieve scripts (/sieve) over real HTTPS: a global
administrator edits the server's and any domain's before/after scripts, a domain
administrator only their domain's (another domain is 404, the server's 403), a plain user
gets 404; a broken script is refused with its line and column next to its textarea (422) and
nothing is stored; check, save, remove; the domain page links to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.core.actor import Actor
from tests.support.server import RunningServer, server_config
from tests.support.webpages import PageClient, logged_in

WEB = ["web.admin.port=0", "web.admin.enabled=true", "web.totp_admins=optional"]
OP = Actor.operator()
PASSWORD = "pw-123456789"
BROKEN = 'require "fileinto";\nif true {\n  fileinto;\n}\n'
GOOD = 'require "fileinto";\nif header :contains "subject" "[spam]" { fileinto "Junk"; }\n'


class Site:
    def __init__(self, srv: RunningServer) -> None:
        self.srv = srv
        self.port = srv.port("webadmin")

    def client(self, address: str) -> PageClient:
        return logged_in(self.port, address, PASSWORD)

    def stored(self, scope: str, phase: str) -> str | None:
        scripts = self.srv.services.sieve_scripts
        return self.srv.call(scripts.admin_get(OP.principal, scope, phase))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("sievepages")), extra=WEB))
    admin = srv.services.admin

    async def setup() -> None:
        await admin.domains.add(OP, "other.test")
        for address in ("boss@example.test", "dom@example.test", "pleb@example.test"):
            rec = await srv.services.directory.add_account(address, PASSWORD)
            await srv.services.mailboxes.ensure_defaults(rec.id, rec.domain_id)
        await admin.roles.set(OP, "boss@example.test", None, True)
        await admin.roles.set(OP, "dom@example.test", "example.test", True)
    srv.call(setup())
    try:
        yield Site(srv)
    finally:
        srv.stop()


def test_a_global_administrator_edits_the_servers_and_a_domains_scripts(site: Site) -> None:
    boss = site.client("boss@example.test")
    page = boss.get("/sieve")
    assert page.status == 200
    assert 'href="/sieve/global"' in page.text and 'href="/sieve/other.test"' in page.text
    assert 'href="/sieve">Sieve</a>' in page.text  # in the navigation
    page = boss.get("/domains/example.test")
    assert 'href="/sieve/example.test"' in page.text
    page = boss.get("/sieve/global")
    csrf = page.csrf()
    page = boss.post("/sieve/global/before", {"source": BROKEN, "do": "save"}, csrf)
    assert page.status == 422, page.text
    assert "Line 3, column 3:" in page.text
    assert 'aria-invalid="true" aria-describedby="f-before-error"' in page.text
    assert "  fileinto;" in page.text  # kept as typed
    assert site.stored("global", "before") is None
    page = boss.post("/sieve/global/before", {"source": GOOD, "do": "check"}, csrf)
    assert page.status == 200 and "The script is valid." in page.text
    assert site.stored("global", "before") is None
    page = boss.post("/sieve/global/before", {"source": GOOD, "do": "save"}, csrf)
    assert page.status == 303 and page.location == "/sieve/global", page.text
    assert site.stored("global", "before") == GOOD
    page = boss.get("/sieve")
    assert "<td>yes</td><td>none</td>" in page.text
    page = boss.post("/sieve/other.test/after", {"source": "keep;\n", "do": "save"}, csrf)
    assert page.status == 303
    assert site.stored("other.test", "after") == "keep;\n"
    page = boss.post("/sieve/global/before", {"do": "remove", "source": ""}, csrf)
    assert page.status == 303
    assert site.stored("global", "before") is None


def test_a_domain_administrator_only_their_domain(site: Site) -> None:
    dom = site.client("dom@example.test")
    page = dom.get("/sieve")
    assert page.status == 200
    assert 'href="/sieve/example.test"' in page.text
    assert "/sieve/global" not in page.text and "other.test" not in page.text
    csrf = dom.get("/sieve/example.test").csrf()
    page = dom.post("/sieve/example.test/before", {"source": GOOD, "do": "save"}, csrf)
    assert page.status == 303, page.text
    assert site.stored("example.test", "before") == GOOD
    assert dom.get("/sieve/other.test").status == 404
    assert dom.post("/sieve/other.test/before", {"source": GOOD, "do": "save"},
                    csrf).status == 404
    assert dom.get("/sieve/global").status == 403
    assert dom.post("/sieve/global/after", {"source": GOOD, "do": "save"}, csrf).status == 403
    assert site.stored("global", "after") is None
    assert site.stored("other.test", "before") is None


def test_plain_users_and_bad_input(site: Site) -> None:
    pleb = site.client("pleb@example.test")
    assert pleb.get("/sieve").status == 404
    assert pleb.get("/sieve/example.test").status == 404
    boss = site.client("boss@example.test")
    csrf = boss.get("/sieve/global").csrf()
    assert boss.get("/sieve/no-such.test").status == 404
    assert boss.get("/sieve/%00").status == 404
    assert boss.post("/sieve/global/sideways", {"source": GOOD, "do": "save"},
                     csrf).status == 404
    assert boss.post("/sieve/global/before", {"source": GOOD, "do": "explode"},
                     csrf).status == 404
    page = boss.post("/sieve/global/after", {"source": "#" * 70_000, "do": "save"}, csrf)
    assert page.status in (409, 413)
    assert boss.post("/sieve/global/after", {"source": GOOD, "do": "save"},
                     "forged").status == 403
    assert site.stored("global", "after") is None
