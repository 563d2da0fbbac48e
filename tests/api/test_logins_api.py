"""``/api/v1`` for logins (web/api/logins.py): an administrator resets an account's second
factor and ends its web sessions, as ``postroom user 2fa-reset`` and ``postroom user
logout-everywhere`` do; a user makes, lists and revokes their own app passwords, which then
log in over IMAP, and stop at once when revoked."""

from __future__ import annotations

import imaplib

import pyotp

from postroom.core.actor import Actor, Origin
from tests.api.conftest import PASSWORD, Clients
from tests.support.tls import insecure_context


def imap_ok(api: Clients, user: str, password: str) -> bool:
    imap = imaplib.IMAP4_SSL("127.0.0.1", api.srv.port("imaps"), ssl_context=insecure_context())
    try:
        imap.login(user, password)
    except imaplib.IMAP4.error:
        return False
    finally:
        imap.shutdown()
    return True


def test_own_app_passwords(api: Clients) -> None:
    made = api.ann.post("/api/v1/me/app-passwords", {"name": "Phone mail"})
    assert made.status == 201 and made.json["name"] == "Phone mail"
    password = made.json["password"]
    listed = api.ann.get("/api/v1/me/app-passwords").json
    assert [(a["id"], a["name"]) for a in listed] == [(made.json["id"], "Phone mail")]
    assert "password" not in listed[0]
    assert imap_ok(api, "ann@example.test", password)
    # another user cannot see or revoke it: the list is the caller's own
    assert api.boss.get("/api/v1/me/app-passwords").json == []
    assert api.boss.delete(f"/api/v1/me/app-passwords/{made.json['id']}").status == 404
    assert api.ann.delete(f"/api/v1/me/app-passwords/{made.json['id']}").status == 204
    assert not imap_ok(api, "ann@example.test", password)
    assert api.ann.delete(f"/api/v1/me/app-passwords/{made.json['id']}").status == 404
    bad = api.ann.post("/api/v1/me/app-passwords", {"name": "   "})
    assert bad.status == 422 and "name" in bad.detail


def test_two_factor_reset_and_logout_everywhere(api: Clients) -> None:
    s = api.srv.services
    ann = api.srv.call(s.directory.authenticate("ann@example.test", PASSWORD))
    assert ann is not None
    enrolment = api.srv.call(s.two_factor.begin(ann))
    actor = Actor(ann, Origin("api", "127.0.0.1"))
    api.srv.call(s.two_factor.confirm(actor, pyotp.TOTP(enrolment.secret).now()))
    assert api.srv.call(s.two_factor.enabled(ann.account_id or 0))
    # another domain's account, for a domain administrator: as if it did not exist
    assert api.boss.delete("/api/v1/users/olga@other.test/two-factor").status == 404
    assert api.boss.post("/api/v1/users/olga@other.test/logout-everywhere").status == 404
    assert api.ann.delete("/api/v1/users/ann@example.test/two-factor").status in (403, 404)
    reset = api.boss.delete("/api/v1/users/ann@example.test/two-factor")
    assert reset.status == 200 and reset.json == {"had_two_factor": True}
    assert not api.srv.call(s.two_factor.enabled(ann.account_id or 0))
    again = api.root.delete("/api/v1/users/ann@example.test/two-factor")
    assert again.json == {"had_two_factor": False}
    ended = api.boss.post("/api/v1/users/ann@example.test/logout-everywhere")
    assert ended.status == 200 and ended.json == {"sessions": 0}
    assert api.root.post("/api/v1/users/ghost@example.test/logout-everywhere").status == 404


def test_a_session_cookie_alone_makes_no_credential(api: Clients) -> None:
    """Review finding: with only the WebAdmin session cookie (a copied one, say), a new app
    password or API token would outlive the session and skip the second factor. The API asks
    such a caller for the current password (a wrong one is a failed login); a bearer token is
    itself a credential and is not asked."""
    import json

    from tests.support.web import WebClient
    web = WebClient(api.srv.port("webadmin"))
    web.login("ann@example.test", PASSWORD)
    web.get("/me")  # the session's CSRF token, for the API's unsafe requests

    def post(path: str, body: dict[str, str]) -> tuple[int, dict[str, object]]:
        page = web.request("POST", path, json.dumps(body).encode(), {
            "Content-Type": "application/json", "X-CSRF-Token": web.csrf})
        return page.status, json.loads(page.body or b"{}")

    for path in ("/api/v1/me/app-passwords", "/api/v1/tokens"):
        status, problem = post(path, {"name": "stolen"})
        assert status == 403 and "current password" in str(problem["detail"]), path
        status, _ = post(path, {"name": "stolen", "password": "not-it-123456"})
        assert status == 403, path
        status, made = post(path, {"name": "mine", "password": PASSWORD})
        assert status == 201, (path, made)
    # a bearer token is not asked
    assert api.ann.post("/api/v1/me/app-passwords", {"name": "by token"}).status == 201
