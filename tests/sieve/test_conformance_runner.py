"""bench/sieve_conformance.py and its test-only extension, on .svtest files of our own (the
runner reads Pigeonhole's from a checkout; none of those are in this repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.sieve_conformance import run_file, table
from postroom.sieve import compile_script
from postroom.sieve.errors import SieveSyntaxError

SUITE = """\
require "vnd.dovecot.testsuite";
require "fileinto";
require "relational";
require "comparator-i;ascii-numeric";

test_set "message" text:
From: a@example.com
To: b@example.org
Subject: Hello

Body.
.
;
test_mailbox_create "Folder";

test "a passing test" {
    if not header :is "subject" "Hello" { test_fail "subject"; }
}

test "a failing test" {
    test_fail "as intended";
}

test "compile, run, inspect, execute" {
    if not test_script_compile "sub.sieve" { test_fail "compile"; }
    if not test_script_run { test_fail "run"; }
    if not test_result_action :count "eq" :comparator "i;ascii-numeric" "2" {
        test_fail "two actions";
    }
    if not test_result_action :index 1 "store" { test_fail "store first"; }
    if not test_result_action :index 2 "redirect" { test_fail "redirect second"; }
    if not test_result_execute { test_fail "execute"; }
    if not test_message :folder "Folder" 0 { test_fail "stored"; }
    if not test_message :smtp 0 { test_fail "sent"; }
}

test "errors are reported" {
    if test_script_compile "bad.sieve" { test_fail "should not compile"; }
    if not test_error :contains "unknown command" { test_fail "error text"; }
}

test "envelope is set" {
    test_set "envelope.from" "x@example.net";
    if not header :is "from" "a@example.com" { test_fail "message kept"; }
}
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "mine.svtest").write_text(SUITE)
    (tests / "sub.sieve").write_text('require "fileinto";\nfileinto "Folder";\n'
                                     'redirect "c@example.net";\n')
    (tests / "bad.sieve").write_text("frobnicate;\n")
    return tmp_path


async def test_runner_counts_passed_and_failed_tests(checkout: Path) -> None:
    result = await run_file(checkout, "core", "mine.svtest")
    assert result.error == ""
    assert result.passed == ["a passing test", "compile, run, inspect, execute",
                             "errors are reported", "envelope is set"]
    assert result.failed == [("a failing test", "as intended")]
    text = table([result], verbose=True)
    assert "| core | mine.svtest | 4 | 1 |" in text
    assert "as intended" in text


async def test_a_file_that_does_not_compile_is_reported(checkout: Path) -> None:
    (checkout / "tests" / "broken.svtest").write_text('require "vnd.dovecot.testsuite";\n'
                                                      "test_frob;\n")
    result = await run_file(checkout, "core", "broken.svtest")
    assert result.error.startswith("does not compile: line 2, column 1: unknown command")


def test_the_testsuite_extension_is_not_advertised() -> None:
    import bench.sieve_testsuite  # noqa: F401  (registers it)

    with pytest.raises(SieveSyntaxError):
        compile_script('require "vnd.dovecot.testsuite";')
