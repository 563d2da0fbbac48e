"""web/forms.py: one status per refusal for pages and API, one form reader with the configured
limits (URL-encoded and multipart alike), one time format, one redirect back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postroom.core.actor import Actor, Origin, own_account
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.web.forms import STATUS, FormLimits, back, read_form, status_of, when


def test_every_kind_has_one_status() -> None:
    assert set(STATUS) == set(Kind)
    assert status_of(MailError(Kind.INVALID, "x")) == 422  # the user can correct the form
    assert status_of(MailError(Kind.EXISTS, "x")) == 409
    assert status_of(MailError(Kind.IN_USE, "x")) == 409
    assert status_of(MailError(Kind.LIMIT, "x")) == 409
    assert status_of(MailError(Kind.NOT_FOUND, "x")) == 404
    assert status_of(MailError(Kind.NO_PERM, "x")) == 403
    assert status_of(MailError(Kind.TEMPORARY, "x")) == 503


def test_pages_and_api_use_the_same_table() -> None:
    from postroom.web.api import framework
    from postroom.web.pages import dir_common, ops_common
    for module in (dir_common, ops_common, framework):
        assert vars(module)["status_of"] is status_of, module.__name__


def test_when_and_back() -> None:
    assert when(None) == "never" and when(0) == "never"
    assert when(86400 + 61) == "1970-01-02 00:01:01 UTC"
    # the message travels in a signed cookie (web/flash.py), never in the URL
    done = back("/x", "done")
    assert done.headers["location"] == "/x" and "__Host-postroom-flash=" in \
        done.headers["set-cookie"]
    assert back("/x?a=1", "ok", b="", c="2").headers["location"] == "/x?a=1&c=2"
    assert back("/x").status_code == 303 and back("/x").headers["location"] == "/x"


async def echo(request: Request) -> Response:
    form = await read_form(request)
    return Response(json.dumps({"pairs": form.pairs, "name": form.get("name"),
                                "raw": form.raw("name")}), media_type="application/json")


APP = Starlette(routes=[Route("/f", echo, methods=["POST"])])
APP.state.form_limits = FormLimits(max_field=10, max_fields=3)


def post(body: bytes, ctype: str) -> tuple[int, Any]:
    sent: list[MutableMapping[str, Any]] = []
    chunks = [body]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": chunks.pop(0) if chunks else b"",
                "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)
    scope = {"type": "http", "method": "POST", "path": "/f", "raw_path": b"/f",
             "query_string": b"", "headers": [(b"content-type", ctype.encode())],
             "scheme": "https", "server": ("x", 443), "client": ("127.0.0.1", 1),
             "root_path": "", "http_version": "1.1", "asgi": {"version": "3.0"}}
    asyncio.run(APP(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(out) if start["status"] == 200 else out


def multipart(fields: list[tuple[str, str]]) -> tuple[bytes, str]:
    parts = b"".join(b'--B\r\nContent-Disposition: form-data; name="' + k.encode()
                     + b'"\r\n\r\n' + v.encode() + b"\r\n" for k, v in fields)
    return parts + b"--B--\r\n", "multipart/form-data; boundary=B"


URLENC = "application/x-www-form-urlencoded"


def test_urlencoded_and_multipart_read_alike() -> None:
    fields = [("name", " a b "), ("csrf", "t")]
    status, got = post(urlencode(fields).encode(), URLENC)
    assert status == 200 and got["name"] == "a b" and got["raw"] == " a b "
    status, got2 = post(*multipart(fields))
    assert status == 200 and got2 == got


@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
def test_the_limits_hold_for_both_encodings(kind: str) -> None:
    def send(fields: list[tuple[str, str]]) -> int:
        if kind == "urlencoded":
            return post(urlencode(fields).encode(), URLENC)[0]
        return post(*multipart(fields))[0]
    assert send([("a", "x" * 10)]) == 200
    assert send([("a", "x" * 11)]) == 413  # web.form_max_field
    assert send([("a", "1"), ("b", "2"), ("c", "3")]) == 200
    assert send([("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]) == 413  # form_max_fields


def test_other_media_and_bad_bytes() -> None:
    assert post(b'{"a": 1}', "application/json")[0] == 415
    assert post(b"a=\xff", URLENC)[0] == 400  # not UTF-8


def test_own_account() -> None:
    operator = Actor.operator()
    with pytest.raises(MailError) as caught:
        own_account(operator, "app passwords are for accounts")
    assert caught.value.kind is Kind.INVALID and caught.value.text == (
        "app passwords are for accounts")
    user = Actor(Principal(7, "a@example.test", 1), Origin("webadmin", "x"))
    assert own_account(user, "-") == (7, "a@example.test")
