"""A running server with the admin listener, three API tokens, and a client that checks every
response against the OpenAPI document the server serves.

The check cannot be forgotten: ``ApiClient.call`` validates status, media type and body of
every response before a test sees it (tests/api/openapi_check.py), and the fixtures hand out
only that client. One server per test module keeps the run short.

Directory: ``example.test`` with ``root@`` (global administrator), ``boss@`` (administrator
of example.test only) and ``ann@`` (a user); ``other.test`` with ``olga@``, a domain boss
must not see.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from postroom.core.actor import Actor
from postroom.services.admin.directory import NewAccount
from tests.api.openapi_check import Spec
from tests.support.server import RunningServer, server_config
from tests.support.tls import insecure_context

WEB = ["web.admin.enabled=true", "web.admin.port=0", "web.max_body_size=65536",
       "web.api_token_cache=0.5"]
PASSWORD = "pw-api-tests-1"


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def detail(self) -> str:
        return str(self.json.get("detail", ""))


class ApiClient:
    """Keep-alive HTTPS to the admin listener; every answer is checked against the spec."""

    def __init__(self, srv: RunningServer, spec: Spec, token: str | None) -> None:
        self.port = srv.port("webadmin")
        self.spec = spec
        self.token = token
        self.conn: http.client.HTTPSConnection | None = None

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             headers: dict[str, str] | None = None, check: bool = True) -> Answer:
        sent = dict(headers or {})
        if self.token is not None and "Authorization" not in sent:
            sent["Authorization"] = f"Bearer {self.token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30,
                                                        context=insecure_context())
            try:
                self.conn.request(method, path, body=data, headers=sent)
                response = self.conn.getresponse()
                answer = Answer(response.status, response.headers, response.read())
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        if response.will_close and self.conn is not None:
            self.conn.close()
            self.conn = None
        assert b"Traceback" not in answer.body
        assert answer.status < 500, (method, path, answer.status, answer.body[:500])
        if check:
            self.spec.check(method, path, answer.status,
                            answer.headers.get("Content-Type", ""), answer.body,
                            answer.headers)
        return answer

    def get(self, path: str, **kw: Any) -> Answer:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Answer:
        return self.call("DELETE", path, **kw)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def q(text: str) -> str:
    """A path segment, percent-encoded ('/' kept for folder paths)."""
    return quote(text, safe="/@")


@dataclass
class Clients:
    srv: RunningServer
    spec: Spec
    root: ApiClient  # global administrator
    boss: ApiClient  # administrator of example.test only
    ann: ApiClient  # a user, self scope
    anon: ApiClient  # no credentials

    def new(self, token: str | None) -> ApiClient:
        return ApiClient(self.srv, self.spec, token)


def make_token(srv: RunningServer, owner: str, scope: str) -> str:
    tokens = srv.services.tokens
    assert tokens is not None
    token, _ = srv.call(tokens.create(Actor.operator(), f"test {scope}", scope, owner=owner))
    return token


@pytest.fixture(scope="session")
def exercised() -> set[tuple[str, str]]:
    """(method, path template) of every operation some test got a 2xx answer from."""
    return set()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, exercised: set[tuple[str, str]]
        ) -> Iterator[Clients]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("api")), extra=WEB))
    op = Actor.operator()
    admin = srv.services.admin

    async def directory() -> None:
        await admin.domains.add(op, "other.test")
        for address in ("root@example.test", "boss@example.test", "ann@example.test",
                        "olga@other.test"):
            await admin.users.add(op, NewAccount(address, PASSWORD))
        await admin.roles.set(op, "root@example.test", None, True)
        await admin.roles.set(op, "boss@example.test", "example.test", True)
    srv.call(directory())
    tokens = {"root": make_token(srv, "root@example.test", "admin"),
              "boss": make_token(srv, "boss@example.test", "domain:example.test"),
              "ann": make_token(srv, "ann@example.test", "self")}
    bare = ApiClient(srv, Spec({}), None)
    answer = bare.get("/api/v1/openapi.json", check=False)
    assert answer.status == 200
    spec = Spec(answer.json)
    clients = Clients(srv, spec, root=ApiClient(srv, spec, tokens["root"]),
                      boss=ApiClient(srv, spec, tokens["boss"]),
                      ann=ApiClient(srv, spec, tokens["ann"]), anon=ApiClient(srv, spec, None))
    yield clients
    exercised.update(spec.seen)
    for c in (clients.root, clients.boss, clients.ann, clients.anon, bare):
        c.close()
    srv.stop()
