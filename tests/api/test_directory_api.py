"""/api/v1 for the directory: domains, users, aliases, groups, administrators, the caller and
their tokens; one test per CLI operation at least, through the validating client."""

from __future__ import annotations

from tests.api.conftest import PASSWORD, Clients


def test_domains_add_list_show_remove(api: Clients) -> None:
    r = api.root.post("/api/v1/domains", {"domain": "Neu.Example"})
    assert r.status == 201 and r.json["domain"] == "neu.example" and r.json["admins"] == []
    assert r.headers["Location"] == "/api/v1/domains/neu.example"  # RFC 9110 §10.2.2
    assert api.root.get(r.headers["Location"]).json["domain"] == "neu.example"
    assert api.root.post("/api/v1/domains", {"domain": "neu.example"}).status == 409
    names = [d["domain"] for d in api.root.get("/api/v1/domains").json]
    assert {"example.test", "other.test", "neu.example"} <= set(names)
    shown = api.root.get("/api/v1/domains/example.test").json
    assert shown["accounts"] >= 3 and "boss@example.test" in shown["admins"]
    assert api.root.delete("/api/v1/domains/neu.example").status == 204
    r = api.root.get("/api/v1/domains/neu.example")
    assert r.status == 404 and r.detail.startswith("unknown domain neu.example")
    # an IDN is shown in Unicode next to its A-label
    r = api.root.post("/api/v1/domains", {"domain": "bücher.example"})
    assert r.json["domain"] == "xn--bcher-kva.example" and r.json["display"] == "bücher.example"


def test_users_add_list_show_set_and_remove(api: Clients) -> None:
    r = api.root.post("/api/v1/users", {"address": "Carl@Example.test", "password": PASSWORD,
                                        "name": "Carl", "quota": 10_000_000})
    assert r.status == 201 and r.json["address"] == "carl@example.test"
    assert r.json["quota"] == 10_000_000 and r.json["state"] == "active"
    again = api.root.post("/api/v1/users", {"address": "carl@example.test",
                                            "password": PASSWORD})
    assert again.status == 409 and again.json["title"] == "Conflict"
    listed = api.root.get("/api/v1/users?domain=example.test").json
    assert "carl@example.test" in [u["address"] for u in listed]
    assert "olga@other.test" not in [u["address"] for u in listed]
    everyone = [u["address"] for u in api.root.get("/api/v1/users").json]
    assert "olga@other.test" in everyone and everyone == sorted(everyone)
    page = api.root.get("/api/v1/users?offset=1&limit=2").json
    assert [u["address"] for u in page] == everyone[1:3]
    assert api.root.get("/api/v1/users?limit=0").status == 422
    shown = api.root.get("/api/v1/users/carl@example.test").json
    assert shown["name"] == "Carl" and shown["spam_filter"] is True and shown["groups"] == []
    r = api.root.patch("/api/v1/users/carl@example.test",
                       {"name": "Carl C", "quota": None, "spam_filter": False})
    assert r.status == 200 and r.json["name"] == "Carl C" and r.json["quota"] is None
    assert r.json["spam_filter"] is False
    r = api.root.patch("/api/v1/users/carl@example.test", {"state": "frozen"})
    assert r.json["state"] == "frozen" and r.json["quota"] is None  # quota left as it was
    assert api.root.post("/api/v1/users/carl@example.test/enable").json["state"] == "active"
    assert api.root.post("/api/v1/users/carl@example.test/disable").json["state"] == \
        "disabled"
    nothing = api.root.patch("/api/v1/users/carl@example.test", {})
    assert nothing.status == 422 and nothing.detail.startswith("nothing to change")
    held = api.root.get("/api/v1/users/carl@example.test/holdings").json
    assert held["folders"] >= 5 and held["messages"] == 0
    r = api.root.delete("/api/v1/users/carl@example.test")
    assert r.status == 200 and r.json["folders"] == held["folders"]
    r = api.root.get("/api/v1/users/carl@example.test")
    assert r.status == 404 and r.detail == "no account carl@example.test"


def test_password_and_challenge_secret(api: Clients) -> None:
    api.root.post("/api/v1/users", {"address": "pat@example.test", "password": PASSWORD})
    assert api.root.put("/api/v1/users/pat@example.test/password",
                        {"password": "pw-new-secret-2"}).status == 204
    directory = api.srv.services.directory
    assert api.srv.call(directory.authenticate("pat@example.test", "pw-new-secret-2"))
    bad = api.root.put("/api/v1/users/pat@example.test/password", {"password": "a\x01b"})
    assert bad.status == 422 and bad.detail == "the password contains control characters"
    assert api.root.put("/api/v1/users/pat@example.test/challenge-secret",
                        {"secret": "apop-secret-1"}).status == 204
    assert api.root.put("/api/v1/users/pat@example.test/challenge-secret",
                        {"secret": None}).status == 204
    audit = api.root.get("/api/v1/audit?target=pat@example.test").json
    assert {"user.passwd", "user.challenge-secret"} <= {a["action"] for a in audit}
    assert all(a["origin"].startswith("api:127.0.0.1") for a in audit)
    assert all("pw-new" not in str(a["detail"]) for a in audit)


def test_send_as_grant_list_revoke(api: Clients) -> None:
    path = "/api/v1/users/ann@example.test/send-as"
    assert api.root.put(path + "/sales@example.test").json["send_as"] == ["sales@example.test"]
    assert "@other.test" in api.root.put(path + "/@other.test").json["send_as"]
    assert api.root.get(path).json["send_as"] == ["@other.test", "sales@example.test"]
    assert api.root.delete(path + "/sales@example.test").json["send_as"] == ["@other.test"]
    r = api.root.delete(path + "/sales@example.test")
    assert r.status == 404 and "had no send-as grant" in r.detail


def test_bulk_import_json_and_csv(api: Clients) -> None:
    r = api.root.post("/api/v1/users/import", {"accounts": [
        {"address": f"bulk{i}@example.test", "password": PASSWORD, "quota": 1000}
        for i in range(5)]})
    assert r.status == 201 and r.json["imported"] == 5
    csv = ("address,password,name,quota\n"
           f"csv1@example.test,{PASSWORD},Csv One,1M\n"
           f"csv2@example.test,{PASSWORD}\n").encode()
    r = api.root.post("/api/v1/users/import", raw=csv, headers={"Content-Type": "text/csv"})
    assert r.status == 201 and r.json["addresses"] == ["csv1@example.test",
                                                       "csv2@example.test"]
    shown = api.root.get("/api/v1/users/csv1@example.test").json
    assert shown["quota"] == 1 << 20 and shown["name"] == "Csv One"
    # all or nothing: one bad line, or a domain the caller does not administer, imports none
    bad = api.root.post("/api/v1/users/import", raw=b"csv3@example.test,pw-x-12345678,x,lots\n",
                        headers={"Content-Type": "text/csv"})
    assert bad.status == 422 and bad.detail.startswith("line 1:")
    twice = api.root.post("/api/v1/users/import", {"accounts": [
        {"address": "dup@example.test", "password": PASSWORD},
        {"address": "DUP@example.test", "password": PASSWORD}]})
    assert twice.status == 422 and "twice" in twice.detail
    mixed = api.boss.post("/api/v1/users/import", {"accounts": [
        {"address": "fine@example.test", "password": PASSWORD},
        {"address": "sneaky@other.test", "password": PASSWORD}]})
    assert mixed.status == 404
    assert api.root.get("/api/v1/users/fine@example.test").status == 404
    assert api.root.post("/api/v1/users/import", {"accounts": []}).status == 422


def test_aliases_add_list_remove(api: Clients) -> None:
    r = api.root.post("/api/v1/aliases", {"alias": "info@example.test",
                                          "targets": ["ann@example.test"]})
    assert r.status == 201 and r.json == {"alias": "info@example.test",
                                          "targets": ["ann@example.test"]}
    typo = api.root.post("/api/v1/aliases", {"alias": "x@example.test",
                                             "targets": ["nobody-here@example.test"]})
    assert typo.status in (404, 422)
    assert "info@example.test" in [a["alias"] for a in
                                   api.root.get("/api/v1/aliases?domain=example.test").json]
    assert api.root.get("/api/v1/aliases").status == 200
    assert api.root.delete("/api/v1/aliases/info@example.test").status == 204
    assert api.root.delete("/api/v1/aliases/info@example.test").status == 404


def test_groups_add_show_members_list_remove(api: Clients) -> None:
    r = api.root.post("/api/v1/groups", {"group": "team@example.test", "name": "Team",
                                         "members": ["ann@example.test"]})
    assert r.status == 201 and r.json["acl_identifier"] == "$team@example.test"
    r = api.root.put("/api/v1/groups/team@example.test/members/boss@example.test")
    assert r.json["members"] == ["ann@example.test", "boss@example.test"]
    r = api.root.delete("/api/v1/groups/team@example.test/members/ann@example.test")
    assert r.json["members"] == ["boss@example.test"]
    assert api.root.get("/api/v1/groups/team@example.test").json["name"] == "Team"
    assert "team@example.test" in [g["group"] for g in api.root.get("/api/v1/groups").json]
    assert api.root.get("/api/v1/groups?domain=example.test").status == 200
    self_member = api.root.put("/api/v1/groups/team@example.test/members/team@example.test")
    assert self_member.status == 422 and "cannot contain itself" in self_member.detail
    assert api.root.delete("/api/v1/groups/team@example.test").status == 204
    assert api.root.get("/api/v1/groups/team@example.test").status == 404


def test_administrator_roles(api: Clients) -> None:
    api.root.post("/api/v1/users", {"address": "deputy@example.test", "password": PASSWORD})
    r = api.root.put("/api/v1/admins/deputy@example.test/example.test")
    assert r.json == {"address": "deputy@example.test", "scope": "example.test"}
    assert api.root.put("/api/v1/admins/deputy@example.test/global").json["scope"] == "global"
    roles = api.root.get("/api/v1/admins").json
    assert {"address": "deputy@example.test", "scope": "global"} in roles
    assert {"address": "boss@example.test", "scope": "example.test"} in roles
    assert api.root.delete("/api/v1/admins/deputy@example.test/global").status == 204
    assert api.root.delete("/api/v1/admins/deputy@example.test/example.test").status == 204
    assert all(r["address"] != "deputy@example.test" for r in api.root.get("/api/v1/admins").json)
    # roles are for global administrators
    assert api.boss.put("/api/v1/admins/ann@example.test/global").status == 403


def test_me_for_each_role(api: Clients) -> None:
    assert api.root.get("/api/v1/me").json["role"] == "global"
    boss = api.boss.get("/api/v1/me").json
    assert boss["role"] == "domain" and boss["admin"] == "example.test"
    ann = api.ann.get("/api/v1/me").json
    assert ann == {"address": "ann@example.test", "name": "", "role": "user", "admin": None,
                   "state": "active", "quota": None, "used": 0, "groups": []} | \
        {"groups": ann["groups"]}


def test_tokens_create_list_use_and_revoke(api: Clients) -> None:
    r = api.ann.post("/api/v1/tokens", {"name": "phone", "scope": "self", "expires_in": 3600})
    assert r.status == 201 and r.json["token"].startswith("prt_")
    assert r.json["expires"] is not None and r.json["owner"] == "ann@example.test"
    token, token_id = r.json["token"], r.json["id"]
    listed = api.ann.get("/api/v1/tokens").json
    assert [t["name"] for t in listed if t["id"] == token_id] == ["phone"]
    assert all("token" not in t for t in listed)
    phone = api.new(token)
    assert phone.get("/api/v1/me").json["address"] == "ann@example.test"
    # a token cannot make one that outlives it
    child = phone.post("/api/v1/tokens", {"name": "child", "expires_in": 86400 * 365})
    assert child.status == 201 and child.json["expires"] == r.json["expires"]
    forever = phone.post("/api/v1/tokens", {"name": "forever"})
    assert forever.json["expires"] == r.json["expires"]
    # a self token cannot make an administrator's token (403: it makes only self tokens)
    assert api.ann.post("/api/v1/tokens", {"name": "x", "scope": "admin"}).status == 403
    # global administrators see (and may revoke) anyone's; others do not see them
    assert token_id in [t["id"] for t in
                        api.root.get("/api/v1/tokens?owner=ann@example.test").json]
    assert api.boss.get("/api/v1/tokens?owner=ann@example.test").status == 404
    assert api.root.get("/api/v1/tokens?owner=ghost@example.test").status == 404
    # someone else's token is not found; revoking stops it at once
    assert api.boss.delete(f"/api/v1/tokens/{token_id}").status == 404
    r = api.ann.delete(f"/api/v1/tokens/{token_id}")
    assert r.status == 200 and r.json["revoked"] is not None
    stopped = phone.get("/api/v1/me")
    assert stopped.status == 401 and 'error="invalid_token"' in \
        stopped.headers["WWW-Authenticate"]
    assert api.ann.delete(f"/api/v1/tokens/{token_id}").status == 409
    assert api.ann.delete("/api/v1/tokens/99999999999999999999").status == 404
    phone.close()
