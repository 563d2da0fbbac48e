"""/api/v1 for gateways, ATRN providers, MultiPOP accounts (an account's, every account's,
and the caller's own) and dynamic screening. Secrets go in and never come out."""

from __future__ import annotations

from tests.api.conftest import Clients


def test_gateways_add_list_show_set_remove(api: Clients) -> None:
    r = api.root.post("/api/v1/gateways", {"domain": "customer.example", "verify": "static",
                                           "recipients": ["a@customer.example"],
                                           "atrn_users": ["ann@example.test"]})
    assert r.status == 201 and r.json["verify"] == "static" and r.json["deliver_to"] == ""
    assert r.json["atrn_users"] == ["ann@example.test"] and r.json["minger_secret"] is False
    own = api.root.post("/api/v1/gateways", {"domain": "example.test"})
    assert own.status == 422 and "one of our own domains" in own.detail
    assert "customer.example" in [g["domain"] for g in api.root.get("/api/v1/gateways").json]
    shown = api.root.get("/api/v1/gateways/customer.example").json
    assert shown["queued_messages"] == 0 and shown["recipients"] == ["a@customer.example"]
    r = api.root.patch("/api/v1/gateways/customer.example", {
        "deliver_to": "mx.customer.example:2525", "verify": "minger",
        "minger_secret": "s3cret-minger", "remove_atrn_users": ["ann@example.test"]})
    assert r.status == 200 and r.json["deliver_to"] == "mx.customer.example:2525"
    assert r.json["minger_secret"] is True and "s3cret" not in r.body.decode()
    assert api.root.patch("/api/v1/gateways/customer.example", {}).status == 422
    removed = api.root.delete("/api/v1/gateways/customer.example?force=true")
    assert removed.status == 200 and removed.json == {"count": 0}
    assert api.root.get("/api/v1/gateways/customer.example").status == 404
    assert api.boss.get("/api/v1/gateways").status == 403


def test_atrn_providers(api: Clients) -> None:
    r = api.root.post("/api/v1/atrn", {"name": "provider.example", "host": "odmr.example.net",
                                       "user": "us", "password": "provider-pw",
                                       "domains": ["example.test"], "enabled": False})
    assert r.status == 201 and r.json["port"] == 366 and r.json["enabled"] is False
    assert "provider-pw" not in r.body.decode()
    assert [p["name"] for p in api.root.get("/api/v1/atrn").json] == ["provider.example"]
    r = api.root.patch("/api/v1/atrn/provider.example", {"interval": 900, "enabled": True})
    assert r.json["interval"] == 900 and r.json["enabled"] is True
    assert api.root.get("/api/v1/atrn/provider.example").json["user"] == "us"
    bad = api.root.post("/api/v1/atrn", {"name": "two words", "host": "h.example",
                                         "user": "u", "password": "p"})
    assert bad.status == 422
    assert api.root.delete("/api/v1/atrn/provider.example").status == 204
    assert api.root.get("/api/v1/atrn/provider.example").status == 404


def test_multipop_for_an_account_and_for_oneself(api: Clients) -> None:
    base = "/api/v1/users/boss@example.test/multipop"
    r = api.boss.post(base, {"host": "pop.example.net", "user": "boss", "password": "remote-pw",
                             "leave_on_server": True, "delete_after_days": 7})
    assert r.status == 201 and r.json["port"] == 995 and r.json["delete_after_days"] == 7
    assert "remote-pw" not in r.body.decode()
    remote = r.json["id"]
    assert [x["id"] for x in api.boss.get(base).json] == [remote]
    shown = api.boss.get(f"{base}/{remote}").json
    assert shown["uidls_recorded"] == 0 and shown["enabled"] is True
    r = api.boss.patch(f"{base}/{remote}", {"enabled": False, "interval": 1200})
    assert r.json["enabled"] is False and r.json["interval"] == 1200
    assert api.root.get("/api/v1/multipop").status == 200  # every account's: global only
    assert api.boss.get("/api/v1/multipop").status == 403
    assert api.boss.delete(f"{base}/{remote}").status == 204
    assert api.boss.get(f"{base}/{remote}").status == 404
    # self-service: the caller's own remote accounts
    mine = api.ann.post("/api/v1/me/multipop", {"host": "pop.isp.example", "user": "ann",
                                                "password": "isp-pw", "tls": "starttls"})
    assert mine.status == 201 and mine.json["address"] == "ann@example.test"
    mid = mine.json["id"]
    assert [x["id"] for x in api.ann.get("/api/v1/me/multipop").json] == [mid]
    assert api.ann.get(f"/api/v1/me/multipop/{mid}").json["tls"] == "starttls"
    assert api.ann.patch(f"/api/v1/me/multipop/{mid}", {"folder": "INBOX"}).status == 200
    assert api.ann.get("/api/v1/users/boss@example.test/multipop").status == 404
    assert api.boss.get(f"/api/v1/me/multipop/{mid}").status == 404  # not boss's
    assert api.ann.delete(f"/api/v1/me/multipop/{mid}").status == 204


def test_screening_block_list_unblock(api: Clients) -> None:
    r = api.root.post("/api/v1/screening", {"network": "192.0.2.0/24", "seconds": 600,
                                            "reason": "testing"})
    assert r.status == 201 and r.json["network"] == "192.0.2.0/24"
    assert r.json["expires"] is not None and r.json["source"]
    assert "192.0.2.0/24" in [b["network"] for b in api.root.get("/api/v1/screening").json]
    r = api.root.delete("/api/v1/screening/192.0.2.0/24")
    assert r.status == 200 and r.json == {"unblocked": ["192.0.2.0/24"]}
    again = api.root.delete("/api/v1/screening/192.0.2.0/24")
    assert again.status == 404 and "is not blocked" in again.detail
    assert api.root.post("/api/v1/screening", {"network": "not-an-ip"}).status == 422
    assert api.boss.get("/api/v1/screening").status == 403
