"""Pure parts of the web login: the ``next`` filter (no open redirect), the cookie attributes,
the cross-site judgement, the app password and recovery code formats, the CSRF derivation."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers

from postroom.directory import passwords
from postroom.services import twofactor
from postroom.services.websessions import csrf_of, digest
from postroom.web.auth.login import safe_next
from postroom.web.session import _cross_site, cookie_header


@given(st.text(max_size=60))
def test_next_never_leaves_the_site(value: str) -> None:
    target = safe_next(value, "/home")
    resolved = urlsplit(urljoin("https://mail.example.test:1000/login", target))
    assert resolved.netloc == "mail.example.test:1000" and resolved.scheme == "https"
    assert target.startswith("/") and not target.startswith("//") and "\\" not in target


def test_next_examples() -> None:
    assert safe_next("/users?page=2&q=a%40b") == "/users?page=2&q=a%40b"
    for bad in ("//evil.example", "/\\evil.example", "https://evil.example", "evil",
                "/a b", "/a\tb", "", None, 42, "/" + "a" * 2000):
        assert safe_next(bad, "/") == "/", bad


def test_cookie_attributes() -> None:
    line = cookie_header("__Host-postroom-webadmin", "abc")
    assert line.startswith("__Host-postroom-webadmin=abc; ")
    parts = {p.strip().lower() for p in line.split(";")[1:]}
    assert parts == {"path=/", "secure", "httponly", "samesite=strict"}
    assert "max-age=0" in cookie_header("x", "", expire=True).lower()


def test_cross_site_judgement() -> None:
    def judge(**headers: str) -> str | None:
        return _cross_site(Headers({"host": "mail.example.test:1000",
                                    **{k.replace("_", "-"): v for k, v in headers.items()}}))
    assert judge() is None
    assert judge(sec_fetch_site="same-origin", origin="https://mail.example.test:1000") is None
    assert judge(sec_fetch_site="none") is None
    assert judge(origin="null") is None  # decides nothing (Referrer-Policy: no-referrer)
    assert judge(sec_fetch_site="cross-site") is not None
    assert judge(sec_fetch_site="same-site") is not None  # webmail on :443 is another origin
    assert judge(origin="https://mail.example.test:443") is not None
    assert judge(origin="https://evil.example") is not None


def test_app_password_format() -> None:
    made = {passwords.new_app_password() for _ in range(200)}
    assert len(made) == 200
    for password in made:
        raw = passwords.app_password_form(password)
        assert raw is not None and len(raw) == 20 and password.count("-") == 4
        assert passwords.app_password_form(password.upper().replace("-", " ")) == raw
    for bad in ("short", "a" * 21, "abcd-efgh-ijkl-mnop-qrst", "0000-0000-0000-0000-0000",
                "Pass-word-1234"):
        assert passwords.app_password_form(bad) is None  # l, 0 and 1 are not in the alphabet


def test_recovery_code_format() -> None:
    code = twofactor._new_recovery_code()
    assert len(code) == 19 and code.count("-") == 3
    assert twofactor.recovery_digest(code) == twofactor.recovery_digest(code.upper())
    assert twofactor.recovery_digest("123456") is None


def test_csrf_is_derived_and_does_not_reveal_the_token() -> None:
    token = "T" * 43
    assert csrf_of(token) == csrf_of(token) != csrf_of("U" * 43)
    assert token not in csrf_of(token) and len(digest(token)) == 64
