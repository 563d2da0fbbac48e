"""/api/v1 for DKIM keys, DNS records, BATV keys, the audit log and the status."""

from __future__ import annotations

from tests.api.conftest import Clients


def test_dkim_generate_list_rotate_activate_retire_remove(api: Clients) -> None:
    keys = "/api/v1/domains/example.test/dkim"
    r = api.boss.post(keys + "/generate", {"algorithms": ["ed25519"], "selector": "first"})
    assert r.status == 201 and [k["selector"] for k in r.json] == ["first"]
    assert r.json[0]["state"] == "active" and "p=" in r.json[0]["record"]
    assert [k["selector"] for k in api.boss.get(keys).json] == ["first"]
    assert [k["domain"] for k in api.root.get("/api/v1/dkim").json] == ["example.test"]
    assert api.boss.get("/api/v1/dkim?domain=example.test").status == 200
    assert api.boss.get("/api/v1/dkim").status == 403  # every domain's: global only
    r = api.boss.post(keys + "/rotate", {"algorithms": ["ed25519"], "selector": "second",
                                         "delay": 3600})
    assert r.status == 201 and r.json[0]["state"] == "pending"
    assert api.boss.post(keys + "/second/activate").json["state"] == "active"
    states = {k["selector"]: k["state"] for k in api.boss.get(keys).json}
    assert states["second"] == "active" and states["first"] != "active"
    assert api.boss.post(keys + "/first/retire").json["state"] == "retired"
    pem = api.boss.get(keys + "/second/private").json["pem"]
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert api.boss.delete(keys + "/first").status == 204
    assert api.boss.post(keys + "/nope/activate").status == 404
    audit = {a["action"] for a in api.root.get("/api/v1/audit?action=dkim.").json}
    assert {"dkim.generate", "dkim.rotate", "dkim.activate", "dkim.show-private",
            "dkim.remove"} <= audit


def test_dns_records(api: Clients) -> None:
    r = api.boss.get("/api/v1/domains/example.test/dns")
    assert r.status == 200 and r.json["domain"] == "example.test"
    types = {rec["type"] for rec in r.json["records"]}
    assert {"MX", "TXT", "SRV"} <= types
    assert any(rec["value"] == "mail.example.test" for rec in r.json["records"])


def test_batv_keys(api: Clients) -> None:
    r = api.root.post("/api/v1/batv/rotate", {})
    assert r.status == 200 and r.json[0]["state"] == "signing"
    r = api.root.post("/api/v1/batv/rotate", {"drop_old": True})
    assert sum(k["state"] == "signing" for k in r.json) == 1
    assert api.root.get("/api/v1/batv").status == 200
    assert api.boss.get("/api/v1/batv").status == 403


def test_audit_log_with_filters(api: Clients) -> None:
    api.root.post("/api/v1/aliases", {"alias": "audited@example.test",
                                      "targets": ["ann@example.test"]})
    rows = api.root.get("/api/v1/audit?limit=5&action=alias.").json
    assert rows[0]["action"] == "alias.add" and rows[0]["target"] == "audited@example.test"
    assert rows[0]["actor"] == "root@example.test"
    assert rows[0]["origin"].startswith("api:")
    assert len(api.root.get("/api/v1/audit?limit=1").json) == 1
    assert api.root.get("/api/v1/audit?since=0&actor=root@example.test").status == 200
    assert api.root.get("/api/v1/audit?limit=0").status == 422
    assert api.boss.get("/api/v1/audit").status == 403


def test_status(api: Clients) -> None:
    r = api.root.get("/api/v1/status")
    assert r.status == 200 and r.json["version"]
    assert {d["name"] for d in r.json["daemons"]} == {"spamd", "clamd"}
    assert api.ann.get("/api/v1/status").status == 403


def test_cluster_status(api: Clients) -> None:
    """GET /api/v1/cluster is 'postroom cluster status' (services/cluster.py); a server not
    in cluster mode says so and lists no node."""
    r = api.root.get("/api/v1/cluster")
    assert r.status == 200, r.json
    assert r.json["enabled"] is False and r.json["nodes"] == [] and r.json["problems"] == []
    assert r.json["schema_version"] >= 25
    assert api.ann.get("/api/v1/cluster").status == 403
    assert api.boss.get("/api/v1/cluster").status == 403
