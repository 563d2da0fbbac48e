"""/api/v1 Sieve scripts (web/api/sieve.py): an administrator manages a user's scripts, a
user their own under /me, administrators' scripts per scope and phase; a bad script is a 422
problem naming the line and column (also as members); refusals look like a missing account."""

from __future__ import annotations

from tests.api.conftest import Clients, q

FILTER = 'require ["fileinto"];\nif header :contains "subject" "[list]" {\n  fileinto "Junk";\n}\n'
BAD = 'require ["fileinto"];\nif true {\n  fileinot "Junk";\n}\n'


def test_an_administrator_manages_a_users_scripts(api: Clients) -> None:
    base = f"/api/v1/users/{q('ann@example.test')}/sieve"
    stored = api.boss.put(f"{base}/scripts/lists", {"source": FILTER})
    assert stored.status == 200, stored.body
    assert stored.json == {"name": "lists", "active": False, "warnings": []}
    stored = api.boss.put(f"{base}/scripts/{q('Règles/été')}", {"source": "keep;\n",
                                                                 "activate": True})
    assert stored.status == 200 and stored.json["active"] is True, stored.body
    listed = api.boss.get(f"{base}/scripts")
    assert listed.status == 200
    rows = {r["name"]: r for r in listed.json}
    assert rows["Règles/été"]["active"] and not rows["lists"]["active"]
    assert rows["lists"]["size"] == len(FILTER.encode()) and rows["lists"]["updated"] > 0
    one = api.boss.get(f"{base}/scripts/lists")
    assert one.status == 200 and one.json["source"] == FILTER and not one.json["active"]
    active = api.boss.put(f"{base}/active", {"name": "lists"})
    assert active.status == 200
    assert [r["name"] for r in active.json if r["active"]] == ["lists"]
    refused = api.boss.delete(f"{base}/scripts/lists")
    assert refused.status == 409 and "active" in refused.detail
    renamed = api.boss.post(f"{base}/rename", {"name": "lists", "new_name": "sorting"})
    assert renamed.status == 200
    assert [r["name"] for r in renamed.json if r["active"]] == ["sorting"]
    clash = api.boss.post(f"{base}/rename", {"name": "sorting", "new_name": "Règles/été"})
    assert clash.status == 409
    off = api.boss.put(f"{base}/active", {"name": ""})
    assert off.status == 200 and not any(r["active"] for r in off.json)
    assert api.boss.delete(f"{base}/scripts/sorting").status == 204
    assert api.boss.delete(f"{base}/scripts/{q('Règles/été')}").status == 204
    assert api.boss.get(f"{base}/scripts/sorting").status == 404
    assert api.boss.get(f"{base}/scripts").json == []
    checked = api.boss.post(f"{base}/check", {"source": "keep;\n"})
    assert checked.status == 200 and checked.json == {"warnings": []}
    # warnings are about the account's folders, not the administrator's
    checked = api.boss.post(f"{base}/check", {"source": 'require "fileinto";\n'
                                                        'fileinto "Junk";\nfileinto "Nope";\n'})
    assert checked.status == 200
    assert [w.split(":")[0] for w in checked.json["warnings"]] == ["line 3"]


def test_a_bad_script_is_422_with_line_and_column(api: Clients) -> None:
    base = f"/api/v1/users/{q('ann@example.test')}/sieve"
    for answer in (api.root.put(f"{base}/scripts/bad", {"source": BAD}),
                   api.root.post(f"{base}/check", {"source": BAD}),
                   api.ann.post("/api/v1/me/sieve/check", {"source": BAD})):
        assert answer.status == 422, answer.body
        assert answer.headers["Content-Type"] == "application/problem+json"
        problem = answer.json
        assert problem["detail"].startswith("line 3, column 3: unknown command 'fileinot'")
        assert (problem["line"], problem["column"]) == (3, 3)
    assert api.root.get(f"{base}/scripts/bad").status == 404  # nothing stored
    two = api.root.post(f"{base}/check", {"source": 'require "fileinto";\nfileinot "a";\n'
                                                    'keap;\n'})
    assert two.status == 422 and [(e["line"], e["column"]) for e in two.json["errors"]] == \
        [(2, 1), (3, 1)]
    assert "keap" in two.json["errors"][1]["message"]
    # other refusals: a bad name, too large, not JSON as expected
    tabbed = q("tab\there")
    assert api.root.put(f"{base}/scripts/{tabbed}", {"source": "keep;"}).status == 422
    big = api.root.put(f"{base}/scripts/big", {"source": "#" * 70000 + "\n"})
    assert big.status in (409, 413), big.body
    assert api.root.put(f"{base}/scripts/x", {"text": "keep;"}).status == 422
    assert api.root.put(f"{base}/active", {"name": "no such"}).status == 404


def test_a_user_manages_their_own(api: Clients) -> None:
    me = "/api/v1/me/sieve"
    stored = api.ann.put(f"{me}/scripts/mine", {"source": 'require "fileinto";\n'
                                                         'fileinto "Nowhere";\n'})
    assert stored.status == 200
    assert stored.json["warnings"] and "line 2" in stored.json["warnings"][0]
    assert [r["name"] for r in api.ann.get(f"{me}/scripts").json] == ["mine"]
    assert api.ann.get(f"{me}/scripts/mine").json["source"].startswith("require")
    assert api.ann.put(f"{me}/active", {"name": "mine"}).status == 200
    assert api.ann.post(f"{me}/rename", {"name": "mine", "new_name": "own"}).status == 200
    assert api.ann.post(f"{me}/check", {"source": "keep;"}).json == {"warnings": []}
    assert api.ann.put(f"{me}/active", {"name": ""}).status == 200
    assert api.ann.delete(f"{me}/scripts/own").status == 204
    # the administrator sees the same account's scripts
    assert api.root.get(f"/api/v1/users/{q('ann@example.test')}/sieve/scripts").json == []
    # the operator has no account: nothing of its own
    assert api.root.get(f"{me}/scripts").status == 200  # root is an account


def test_others_scripts_look_missing(api: Clients) -> None:
    olga = f"/api/v1/users/{q('olga@other.test')}/sieve/scripts"
    nobody = f"/api/v1/users/{q('nobody@other.test')}/sieve/scripts"
    assert api.root.put(f"{olga}/hers", {"source": "keep;"}).status == 200
    # another domain's administrator and a plain user: the same 404 as a missing account
    assert api.boss.get(olga).status == api.boss.get(nobody).status == 404
    assert api.ann.get(olga).status == 404
    assert api.ann.put(f"{olga}/hers", {"source": "discard;"}).status == 404
    assert api.root.get(f"{olga}/hers").json["source"] == "keep;"
    assert api.anon.get(olga).status == 401


def test_administrators_scripts(api: Clients) -> None:
    base = "/api/v1/sieve/admin-scripts"
    put = api.root.put(f"{base}/global/before", {"source": "keep;\n"})
    assert put.status == 200 and put.json == {"warnings": []}
    got = api.root.get(f"{base}/global/before")
    assert got.status == 200
    assert got.json == {"scope": "global", "phase": "before", "source": "keep;\n"}
    # a domain's administrator: their domain, not the server's, not another domain
    assert api.boss.put(f"{base}/example.test/after", {"source": "keep;"}).status == 200
    assert api.boss.get(f"{base}/example.test/after").json["source"] == "keep;"
    assert api.boss.get(f"{base}/global/before").status == 403
    assert api.boss.put(f"{base}/other.test/after", {"source": "keep;"}).status == 404
    assert api.ann.get(f"{base}/example.test/after").status == 404
    bad = api.root.put(f"{base}/global/after", {"source": BAD})
    assert bad.status == 422 and bad.json["line"] == 3
    assert api.root.get(f"{base}/global/during").status == 404
    assert api.boss.delete(f"{base}/example.test/after").status == 204
    assert api.root.delete(f"{base}/global/before").status == 204
    assert api.root.get(f"{base}/global/before").status == 404
