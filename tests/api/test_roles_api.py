"""Roles over the API, decided by the services: a domain administrator's view stops at their
domains (another domain's objects answer 404 with the text a missing one gets, never 403); a
user reaches only self-service; nobody without credentials; and the session's user (the
WebAdmin cookie) is accepted like a token."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from postroom.core.actor import Actor, Origin
from postroom.web.api import build
from postroom.web.api.framework import Problem, authenticate
from postroom.web.identity import WebUser
from tests.api.conftest import Clients

# (path to another domain's object, the same path for one that does not exist)
HIDDEN = [
    ("/api/v1/domains/other.test", "/api/v1/domains/nowhere.test"),
    ("/api/v1/users?domain=other.test", "/api/v1/users?domain=nowhere.test"),
    ("/api/v1/aliases?domain=other.test", "/api/v1/aliases?domain=nowhere.test"),
    ("/api/v1/groups?domain=other.test", "/api/v1/groups?domain=nowhere.test"),
    ("/api/v1/users/olga@other.test", "/api/v1/users/nobody@other.test"),
    ("/api/v1/users/olga@other.test/folders", "/api/v1/users/nobody@other.test/folders"),
    ("/api/v1/users/olga@other.test/acl/INBOX", "/api/v1/users/nobody@other.test/acl/INBOX"),
    ("/api/v1/users/olga@other.test/multipop", "/api/v1/users/nobody@other.test/multipop"),
    ("/api/v1/users/olga@other.test/send-as", "/api/v1/users/nobody@other.test/send-as"),
    ("/api/v1/users/olga@other.test/holdings", "/api/v1/users/nobody@other.test/holdings"),
    ("/api/v1/domains/other.test/dkim", "/api/v1/domains/nowhere.test/dkim"),
    ("/api/v1/domains/other.test/dns", "/api/v1/domains/nowhere.test/dns"),
]


@pytest.mark.parametrize(("other", "missing"), HIDDEN)
def test_another_domain_reads_as_missing_for_a_domain_admin(api: Clients, other: str,
                                                              missing: str) -> None:
    hidden, absent = api.boss.get(other), api.boss.get(missing)
    assert hidden.status == absent.status == 404
    names = (("olga@other.test", "nobody@other.test"), ("other.test", "nowhere.test"))
    expected = absent.detail
    for real, fake in names:
        expected = expected.replace(fake, real)
    assert hidden.detail == expected
    assert api.root.get(other).status == 200  # it exists


def test_another_domain_cannot_be_changed_by_a_domain_admin(api: Clients) -> None:
    for method, path, body in (
            ("PATCH", "/api/v1/users/olga@other.test", {"name": "x"}),
            ("PUT", "/api/v1/users/olga@other.test/password", {"password": "pw-x-123456"}),
            ("DELETE", "/api/v1/users/olga@other.test", None),
            ("POST", "/api/v1/users", {"address": "new@other.test", "password": "pw-12345678"}),
            ("POST", "/api/v1/aliases", {"alias": "a@other.test", "targets": ["x@x.example"]}),
            ("POST", "/api/v1/groups", {"group": "g@other.test"}),
            ("POST", "/api/v1/users/olga@other.test/folders", {"name": "X"}),
            ("POST", "/api/v1/domains/other.test/dkim/generate", {})):
        r = api.boss.call(method, path, body)
        assert r.status == 404, (method, path, r.body)
    assert api.root.get("/api/v1/users/olga@other.test").json["name"] == ""
    # and the lists show only their own domain
    assert [d["domain"] for d in api.boss.get("/api/v1/domains").json] == ["example.test"]
    assert all(u["address"].endswith("@example.test")
               for u in api.boss.get("/api/v1/users").json)


def test_a_user_reaches_only_self_service(api: Clients) -> None:
    assert api.ann.get("/api/v1/me").status == 200
    assert api.ann.get("/api/v1/domains").json == []
    assert api.ann.get("/api/v1/users").json == []
    for path in ("/api/v1/users/ann@example.test", "/api/v1/users/boss@example.test",
                 "/api/v1/domains/example.test", "/api/v1/users?domain=example.test"):
        assert api.ann.get(path).status == 404, path
    for path in ("/api/v1/queue", "/api/v1/admins", "/api/v1/audit", "/api/v1/gateways"):
        assert api.ann.get(path).status == 403, path
    # a domain-scoped token of a global administrator is a domain administrator
    boss_like = api.new(api.srv.call(api.srv.services.tokens.create(  # type: ignore[union-attr]
        Actor.operator(), "narrow", "domain:example.test", owner="root@example.test"))[0])
    assert boss_like.get("/api/v1/me").json["role"] == "domain"
    assert boss_like.get("/api/v1/users/olga@other.test").status == 404
    assert boss_like.get("/api/v1/queue").status == 403
    boss_like.close()


def test_no_credentials_is_401_with_a_bearer_challenge(api: Clients) -> None:
    r = api.anon.get("/api/v1/domains")
    assert r.status == 401 and r.headers["WWW-Authenticate"] == 'Bearer realm="postroom"'
    assert r.headers["Content-Type"] == "application/problem+json"
    assert api.anon.post("/api/v1/domains", {"domain": "x.example"}).status == 401
    r = api.anon.get("/api/v1/me", headers={"Authorization": "Basic YTpi"})
    assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = api.anon.get("/api/v1/me", headers={"Authorization": "Bearer prt_" + "x" * 43})
    assert r.status == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    r = api.anon.get("/api/v1/me", headers={"Authorization": "Bearer " + "y" * 8000})
    assert r.status == 401
    assert api.anon.get("/api/v1/openapi.json").status == 200  # the document is public


def test_the_sessions_user_is_accepted(api: Clients) -> None:
    """The session layer sets request.state.user (the WebAdmin cookie); the API acts as
    that user, with the API's origin in the audit log."""
    services = api.srv.services
    boss = api.srv.call(services.directory.principal_for(api.srv.call(
        services.directory.require_account("boss@example.test"))))
    user = WebUser(Actor(boss, Origin("webadmin", "192.0.2.1")), "sid", "csrf")
    front = api.srv.server.front
    assert front is not None and front.web is not None
    table = build(front.web, front.web)  # type: ignore[arg-type]  # settings are not read

    def request(user: WebUser | None, headers: list[tuple[bytes, bytes]]) -> Request:
        return Request({"type": "http", "method": "GET", "path": "/api/v1/me",
                        "headers": headers, "client": ("192.0.2.1", 5000),
                        "state": {"user": user}})
    found = asyncio.run(authenticate(table, request(user, [])))
    assert found.actor.principal == boss and found.actor.origin == Origin("api", "192.0.2.1")
    with pytest.raises(Problem) as exc:
        asyncio.run(authenticate(table, request(None, [])))
    assert exc.value.status == 401


def api_failures(api: Clients) -> float:
    raw = api.srv.call(api.srv.services.metrics.render())
    text = raw.decode() if isinstance(raw, bytes) else raw
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("postroom_logins_total") and 'protocol="api"' in line
               and 'result="failed"' in line)


def test_a_bad_token_is_a_failed_login(api: Clients) -> None:
    """Counted like a failed IMAP login (the metric, screening, the throttle, the log)."""
    was = api_failures(api)
    r = api.anon.get("/api/v1/me", headers={"Authorization": "Bearer prt_wrong"})
    assert r.status == 401
    assert api_failures(api) == was + 1


def test_a_domain_token_cannot_mint_a_wider_one(api: Clients) -> None:
    """Review finding: a ``domain:`` token asking for an ``admin`` token would get the owner's
    every right; it may make only its own scope or ``self``."""
    wider = api.boss.post("/api/v1/tokens", {"name": "escalate", "scope": "admin"})
    assert wider.status == 403
    same = api.boss.post("/api/v1/tokens", {"name": "same", "scope": "domain:example.test"})
    assert same.status == 201
    mine = api.boss.post("/api/v1/tokens", {"name": "mine", "scope": "self"})
    assert mine.status == 201
