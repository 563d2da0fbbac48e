"""web/basicauth.py: the Basic header parser DAV and ActiveSync share (RFC 7617 §2)."""

from __future__ import annotations

import base64

from postroom.web.basicauth import decode_basic


def _header(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def test_user_and_password_split_at_the_first_colon() -> None:
    assert decode_basic(_header(b"alice@example.test:pa:ss")) == ("alice@example.test", "pa:ss")
    assert decode_basic("basic " + base64.b64encode(b"a:b").decode()) == ("a", "b")


def test_utf8_passwords() -> None:
    assert decode_basic(_header("bob:pässwörd".encode())) == ("bob", "pässwörd")


def test_malformed_headers_are_none() -> None:
    for value in ("", "Basic", "Bearer abc", "Basic !!!", _header(b"no-colon"),
                  _header(b":password"), _header(b"\xff\xfe:x"),
                  "Basic " + "A" * 5000, _header(b"u" * 321 + b":p"),
                  _header(b"u:" + b"p" * 1025)):
        assert decode_basic(value) is None, value
