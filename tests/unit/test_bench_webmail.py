"""The parsing the webmail bench relies on (bench/webmail.py, bench/roundcube.py): Postroom's
Server-Timing header, Roundcube's request token and list answers, login forms, percentiles,
the generated HTML letter, and the Makefile's package list agreeing with the bench's."""

from __future__ import annotations

import email
import email.policy
import json
import re
from pathlib import Path

import pytest

from bench import data
from bench.roundcube import PACKAGES, list_rows, php_quote, request_token
from bench.webmail import (
    MARKER,
    PAIRS,
    html_message,
    login_form,
    percentile,
    server_timing,
    summarise,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("header", "expected"), [
    ("app;dur=12.5", {"app": 12.5}),
    ("app;dur=12.5, db;dur=3", {"app": 12.5, "db": 3.0}),
    ('db;desc="store";dur=0.4,app;dur=7', {"db": 0.4, "app": 7.0}),
    ("App; DUR = 2", {"app": 2.0}),
    ("cache;desc=hit, app;dur=1", {"app": 1.0}),  # a metric without dur is left out
    ("app;dur=1, app;dur=9", {"app": 1.0}),        # the first one wins
    ('app;dur="3.5"', {"app": 3.5}),
    ("", {}),
    ("app;dur=abc, x;dur=nan, y;dur=-1, z;dur=inf", {}),
    (";dur=3, ,,", {}),
])
def test_server_timing(header: str, expected: dict[str, float]) -> None:
    assert server_timing(header) == expected


def test_request_token_from_the_login_form() -> None:
    page = ('<form name="login-form" method="post" action="./?_task=login">'
            '<input type="hidden" name="_token" value="mifU8BlHplG3heup8PsgXQfYV6wB">'
            '<input name="_task" type="hidden" value="login"></form>')
    assert request_token(page) == "mifU8BlHplG3heup8PsgXQfYV6wB"
    # attribute order and quotes as Roundcube's html class may write them
    assert request_token("<input value='abc123' type='hidden' name='_token' />") == "abc123"


def test_request_token_from_a_page_env() -> None:
    page = ('<script>rcmail.set_env({"task":"mail","x_frame_options":"sameorigin",'
            '"request_token":"OevdVHtKKBdvD0Gf4ePwsd1Y4nKHyxL9","skin":"elastic"});</script>')
    assert request_token(page) == "OevdVHtKKBdvD0Gf4ePwsd1Y4nKHyxL9"


def test_request_token_missing() -> None:
    assert request_token("<html><form><input name='_user'></form></html>") is None
    assert request_token('<input type="hidden" name="_token" value="">') is None
    assert request_token("") is None


def test_list_rows() -> None:
    exec_js = "this.set_rowcount(\"Messages 1 to 2\");\n" + "".join(
        f"this.add_message_row({uid},{{\"subject\":\"s\"}},{{}},false);\n" for uid in (5, 4))
    body = json.dumps({"action": "list", "env": {}, "exec": exec_js}).encode()
    assert list_rows(body) == 2
    assert list_rows(json.dumps({"action": "list", "exec": ""}).encode()) == 0
    assert list_rows(b"<html>Session expired</html>") == -1
    assert list_rows(b"[1, 2]") == -1
    assert list_rows(json.dumps({"exec": 3}).encode()) == -1


def test_login_form_fills_the_password_form() -> None:
    page = ('<form action="/search"><input name="q" type="text"></form>'
            '<form method="post" action="/login"><input type="hidden" name="csrf" value="t1">'
            '<input name="username" type="text" value=""><input name="password" '
            'type="password"><input type="checkbox" name="remember"><button>Go</button></form>')
    assert login_form(page, "a@b.test", "pw") == (
        "/login", {"csrf": "t1", "username": "a@b.test", "password": "pw"})
    assert login_form('<form><input name="q"></form>', "a", "b") is None


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 0.5) == 10.0
    assert percentile(values, 0.95) == 19.0
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0


def test_html_letter() -> None:
    raw = html_message()
    assert raw == html_message()  # the same bytes in every run
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    html = msg.get_body(("html",))
    assert html is not None
    content = html.get_content()
    assert 98_000 <= len(content.encode()) <= 101_000
    assert content.rstrip().endswith("</html>") and MARKER in content[-200:]
    assert str(msg["To"]) == data.BIG
    assert raw.count(b"\n") == raw.count(b"\r\n")  # CRLF lines, as mail is stored


def test_summary_ratio_and_unavailable() -> None:
    rounds = [{"postroom": {"login": {"p50_ms": 10.0, "p95_ms": 20.0}},
               "roundcube": {"login": {"p50_ms": 30.0, "p95_ms": 50.0},
                             "list": {"p50_ms": 60.0, "p95_ms": 70.0}}}]
    rows = summarise(rounds, ["roundcube"])
    assert len(rows) == len(PAIRS)
    login = rows[0]
    assert (login["ratio_p50"], login["ratio_p95"]) == (3.0, 2.5)
    page = rows[1]
    assert page["ratio_p50"] is None and page["reference_p50_ms"] == 60.0
    assert page["postroom_unavailable"] == "not measured"


def test_php_quote() -> None:
    assert php_quote("a'b\\c") == "'a\\'b\\\\c'"


def test_makefile_installs_the_bench_packages() -> None:
    text = (ROOT / "Makefile").read_text()
    m = re.search(r"^DEB_BENCH_WEBMAIL_PACKAGES := ((?:.*\\\n)*.*)$", text, re.MULTILINE)
    assert m is not None
    listed = m.group(1).replace("\\\n", " ").split()
    assert set(PACKAGES) <= set(listed)
    # the order matters to apt: php-fpm before roundcube-core (see bench/roundcube.py)
    assert listed.index("php-fpm") < listed.index("roundcube-core")
