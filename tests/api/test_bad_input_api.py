"""Bad input gets a 4xx problem+json with a useful detail, never a 500 or a traceback: wrong
types, unknown fields, invalid addresses, unknown IDs, huge numbers, non-JSON bodies, wrong
content types, oversized bodies, wrong methods; then every operation of the document with a
request body, fed junk (the validating client checks each answer against the document)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import PASSWORD, Clients


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"address": 5, "password": PASSWORD}, 422, "Expected `str`, got `int` - at `$.address`"),
    ({"address": "a@example.test", "password": PASSWORD, "quota": "big"}, 422, "$.quota"),
    ({"address": "a@example.test", "password": PASSWORD, "quota": 10**30}, 422, "$.quota"),
    ({"address": "a@example.test", "password": PASSWORD, "quota": -1}, 422, ">= 0"),
    ({"address": "a@example.test", "password": PASSWORD, "evil": 1}, 422, "unknown field"),
    ({"address": "a@example.test"}, 422, "missing required field `password`"),
    ({"address": "not an address", "password": PASSWORD}, 422, "is not an address"),
    ({"address": "x" * 400 + "@example.test", "password": PASSWORD}, 422, "length"),
    ([], 422, "Expected `object`"),
    ("text", 422, "Expected `object`"),
])
def test_wrong_bodies(api: Clients, body: object, status: int, words: str) -> None:
    r = api.root.post("/api/v1/users", body)
    assert r.status == status and words in r.detail, r.body
    assert r.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(("raw", "ctype", "status"), [
    (b"{not json", "application/json", 400),
    (b"", "application/json", 400),
    (b"\xff\xfe\x00", "application/json", 400),
    (b'{"domain": "x.example"}', "text/plain", 415),
    (b'{"domain": "x.example"}', "", 415),
    (b'{"domain": "x.example"}', "application/x-www-form-urlencoded", 415),
])
def test_non_json_bodies_and_wrong_content_types(api: Clients, raw: bytes, ctype: str,
                                                 status: int) -> None:
    headers = {"Content-Type": ctype} if ctype else {}
    r = api.root.post("/api/v1/domains", raw=raw, headers=headers)
    assert r.status == status and r.detail


def test_oversized_body_is_413(api: Clients) -> None:
    big = {"domain": "x.example", "pad": "x" * 70_000}
    r = api.root.post("/api/v1/domains", big)
    assert r.status == 413 and r.headers["Content-Type"] == "application/problem+json"


def test_wrong_method_is_405_with_allow(api: Clients) -> None:
    r = api.root.call("PUT", "/api/v1/domains", {"domain": "x.example"})
    assert r.status == 405 and "GET" in r.headers["Allow"] and "POST" in r.headers["Allow"]
    assert r.headers["Content-Type"] == "application/problem+json"
    for method in ("OPTIONS", "TRACE", "CONNECT", "FOO"):
        r = api.root.call(method, "/api/v1/users/ann@example.test")
        assert r.status in (400, 405), (method, r.status)


@pytest.mark.parametrize("path", [
    "/api/v1/nothing", "/api/v1/queue/0", "/api/v1/queue/99999999999999999999999",
    "/api/v1/queue/-1", "/api/v1/users/ann@example.test/multipop/999999",
    "/api/v1/users/ann@example.test/multipop/1e9", "/api/v1/atrn/nope",
    "/api/v1/gateways/nope.example", "/api/v1/groups/nope@example.test",
    "/api/v1/users/ghost@example.test", "/api/v1/domains/example.test/dkim/nope/private",
])
def test_unknown_ids_are_404(api: Clients, path: str) -> None:
    r = api.root.get(path)
    assert r.status == 404 and r.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("path", [
    "/api/v1/users/@@@", "/api/v1/users/a%00b@example.test", "/api/v1/domains/-bad-.example",
    "/api/v1/users?domain=" + "a" * 400, "/api/v1/audit?limit=100000000000000000000",
    "/api/v1/audit?limit=x", "/api/v1/audit?bogus=1", "/api/v1/audit?since=-5",
    "/api/v1/users/" + "a" * 2000 + "@example.test",
])
def test_invalid_names_and_queries_are_4xx(api: Clients, path: str) -> None:
    r = api.root.get(path)
    assert 400 <= r.status < 500 and r.detail, (path, r.body)


def test_invalid_addresses_in_every_slot(api: Clients) -> None:
    for method, path, body in (
            ("POST", "/api/v1/aliases", {"alias": "a b@example.test", "targets": ["x"]}),
            ("POST", "/api/v1/groups", {"group": "g@", "members": []}),
            ("PUT", "/api/v1/groups/g@example.test/members/%20", None),
            ("PUT", "/api/v1/users/ann@example.test/send-as/not-an-address", None),
            ("PUT", "/api/v1/admins/nobody/global", None),
            ("POST", "/api/v1/gateways", {"domain": "!!"}),
            ("POST", "/api/v1/screening", {"network": "300.1.1.1"}),
            ("PUT", "/api/v1/users/ann@example.test/acl/INBOX",
             {"identifier": "@@", "rights": "lr"})):
        r = api.root.call(method, path, body)
        assert 400 <= r.status < 500 and r.detail, (method, path, r.body)


JUNK: list[tuple[bytes, str]] = [
    (b"[]", "application/json"), (b'{"zzz": 1}', "application/json"),
    (b'"x"', "application/json"), (b"\xff", "application/json"), (b"null", "application/json"),
    (b'{"a":' * 50, "application/json"), (b"x=1", "application/x-www-form-urlencoded"),
]
FILL = {"address": "ann@example.test", "domain": "example.test", "folder": "INBOX",
        "id": "1", "name": "provider.example", "group": "g@example.test",
        "member": "ann@example.test", "target": "x@example.test", "alias": "a@example.test",
        "selector": "sel", "scope": "global", "network": "192.0.2.9",
        "device": "Phone1", "phase": "before"}


def test_every_operation_with_a_body_refuses_junk(api: Clients) -> None:
    operations = [(method.upper(), path) for path, item in api.spec.doc["paths"].items()
                  for method, op in item.items() if "requestBody" in op]
    assert len(operations) >= 30
    for method, template in operations:
        path = re.sub(r"\{(\w+)\}", lambda m: FILL[m.group(1)], template)
        for raw, ctype in JUNK:
            for client in (api.root, api.boss, api.ann):
                r = client.call(method, path, raw=raw, headers={"Content-Type": ctype})
                assert 400 <= r.status < 500 and r.detail, (method, path, raw, r.body)


ODD = ["%00", "%C3%BC", "a" * 300, "..", "%2E%2E", "-1", "x@", "@x", "'%20OR%201=1",
       "%F0%9F%92%A9@example.test", "%FF", "0", "1" * 30, "a%0Ab"]


def test_every_operation_refuses_odd_path_values(api: Clients) -> None:
    """Every path parameter of every operation without a body, filled with odd values (NUL,
    non-UTF-8 escapes, dot segments, SQL, emoji, huge numbers): a 4xx, never a 500."""
    operations = [(method.upper(), path) for path, item in api.spec.doc["paths"].items()
                  for method, op in item.items()
                  if "requestBody" not in op and "{" in path]
    assert len(operations) >= 40
    for method, template in operations:
        for odd in ODD:
            path = re.sub(r"\{\w+\}", odd, template)
            r = api.root.call(method, path)
            assert 400 <= r.status < 500, (method, path, r.status, r.body[:200])


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["address", "password", "name", "quota", "state", "spam_filter",
                         "domain", "x"]), inner, max_size=5),
    max_leaves=12)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON_VALUES, target=st.sampled_from([
    ("POST", "/api/v1/users"), ("PATCH", "/api/v1/users/ann@example.test"),
    ("POST", "/api/v1/domains"), ("PUT", "/api/v1/users/ann@example.test/acl/INBOX")]))
def test_random_json_never_breaks_the_server(api: Clients, body: object,
                                             target: tuple[str, str]) -> None:
    """Random JSON (hypothesis) at typed endpoints: answered within the document, never 5xx.
    A domain administrator sends it, so nothing outside example.test can change."""
    method, path = target
    r = api.boss.call(method, path, raw=json.dumps(body).encode(),
                      headers={"Content-Type": "application/json"})
    assert r.status < 500
