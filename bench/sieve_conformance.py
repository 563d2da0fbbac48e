"""Pigeonhole's Sieve conformance suite run with Postroom's interpreter.

Pigeonhole (Dovecot's Sieve implementation) tests itself with ``.svtest`` files: Sieve
scripts that use a test-only extension, "vnd.dovecot.testsuite", to set messages, compile
and run other scripts, and check results (bench/sieve_testsuite.py implements enough of it).
This runner takes the path of a Pigeonhole checkout, runs the files of ``FILES`` and prints,
per file, how many ``test`` blocks passed and failed::

    .venv/bin/python -m bench.sieve_conformance PATH/TO/pigeonhole [--only core,body] [-v]

The table it prints is Markdown; docs/sieve/conformance.md holds the last one with the
reasons of the failures.

Nothing of Pigeonhole is copied here (its files are LGPL; they are read from the checkout).
Each part adds its extensions' files to ``FILES`` under the capability they test. Files
that do not compile (a capability we lack, a testsuite command we do not have) count as
one failure with the reason. Pigeonhole-specific expectations — its exact error texts,
error counts after error recovery, its configuration keys — fail here by design and are
listed as such in docs/sieve/conformance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.sieve_testsuite import CAPABILITY, Suite, SuiteEnvironment
from postroom.sieve import capabilities, compile_script
from postroom.sieve.errors import SieveSyntaxError
from postroom.sieve.interp import run
from postroom.sieve.limits import Limits
from postroom.sieve.runtime import Runtime

# The files under tests/ of a Pigeonhole checkout, by the capability they exercise.
FILES: dict[str, list[str]] = {
    "core": [
        "testsuite.svtest", "lexer.svtest", "control-if.svtest", "control-stop.svtest",
        "test-allof.svtest", "test-anyof.svtest", "test-exists.svtest", "test-header.svtest",
        "test-size.svtest", "test-address.svtest.in",
        "match-types/is.svtest", "match-types/contains.svtest", "match-types/matches.svtest",
        "comparators/i-octet.svtest", "comparators/i-ascii-casemap.svtest",
        "compile/compile.svtest", "compile/errors.svtest", "compile/recover.svtest",
        "compile/warnings.svtest",
        "execute/actions.svtest", "execute/address-normalize.svtest",
        "execute/errors.svtest", "execute/examples.svtest",
        "execute/mailstore.svtest",
    ],
    # files Pigeonhole runs expecting them to fail (testsuite -F): they pass here when they
    # fail (a test fails or the run stops on an error) rather than crash
    "failures": [
        "failures/fuzz1.svtest", "failures/fuzz2.svtest", "failures/fuzz3.svtest",
        "failures/fuzz4.svtest", "failures/mailbox-bad-utf8.svtest",
    ],
    # what the delivery does with redirected mail and rejections (envelope sender of a
    # redirect, its added header fields, loop detection, the rejection message): the
    # delivery service's part (services/sieve/), not the language's; run for information
    "delivery": ["execute/smtp.svtest", "extensions/reject/smtp.svtest",
                 # the vacation reply itself (whom to answer, its fields): services/sieve/
                 "extensions/vacation/message.svtest", "extensions/vacation/reply.svtest",
                 "extensions/vacation/smtp.svtest", "extensions/vacation/utf-8.svtest"],
    "comparator-i;unicode-casemap": ["comparators/i-unicode-casemap.svtest"],
    "encoded-character": ["extensions/encoded-character.svtest"],
    "envelope": ["extensions/envelope.svtest"],
    "body": [
        "extensions/body/basic.svtest", "extensions/body/content.svtest",
        "extensions/body/errors.svtest", "extensions/body/match-values.svtest",
        "extensions/body/raw.svtest", "extensions/body/text.svtest",
    ],
    "imap4flags": [
        "extensions/imap4flags/basic.svtest", "extensions/imap4flags/errors.svtest",
        "extensions/imap4flags/execute.svtest", "extensions/imap4flags/flagstore.svtest",
        "extensions/imap4flags/flagstring.svtest", "extensions/imap4flags/hasflag.svtest",
        "extensions/imap4flags/multiscript.svtest",
    ],
    "reject": ["extensions/reject/execute.svtest"],
    "relational": [
        "extensions/relational/basic.svtest", "extensions/relational/comparators.svtest",
        "extensions/relational/errors.svtest", "extensions/relational/rfc.svtest",
    ],
    "subaddress": [
        "extensions/subaddress/basic.svtest", "extensions/subaddress/config.svtest",
        "extensions/subaddress/rfc.svtest",
    ],
    "variables": [
        "extensions/variables/basic.svtest", "extensions/variables/errors.svtest",
        "extensions/variables/limits.svtest", "extensions/variables/match.svtest",
        "extensions/variables/modifiers.svtest", "extensions/variables/quoting.svtest",
        "extensions/variables/regex.svtest", "extensions/variables/string.svtest",
    ],
    "regex": [
        "extensions/regex/basic.svtest", "extensions/regex/errors.svtest",
        "extensions/regex/match-values.svtest",
    ],
    "date": [
        "extensions/date/basic.svtest", "extensions/date/date-parts.svtest",
        "extensions/date/zones.svtest",
    ],
    "index": ["extensions/index/basic.svtest", "extensions/index/errors.svtest"],
    "mailbox": ["extensions/mailbox/errors.svtest", "extensions/mailbox/execute.svtest"],
    "mboxmetadata": ["extensions/metadata/errors.svtest", "extensions/metadata/execute.svtest"],
    "include": [
        "extensions/include/errors.svtest", "extensions/include/execute.svtest",
        "extensions/include/once.svtest", "extensions/include/optional.svtest",
        "extensions/include/rfc.svtest", "extensions/include/twice.svtest",
        "extensions/include/variables.svtest",
    ],
    "duplicate": ["extensions/duplicate/errors.svtest", "extensions/duplicate/execute.svtest"],
    "editheader": [
        "extensions/editheader/addheader.svtest", "extensions/editheader/alternating.svtest",
        "extensions/editheader/deleteheader.svtest", "extensions/editheader/errors.svtest",
        "extensions/editheader/execute.svtest", "extensions/editheader/protected.svtest",
        "extensions/editheader/utf8.svtest",
    ],
    "vacation": ["extensions/vacation/errors.svtest", "extensions/vacation/execute.svtest"],
    "environment": ["extensions/environment/basic.svtest",
                    "extensions/environment/rfc.svtest"],
    # needs "mime"/"foreverypart" (RFC 5703), which Postroom does not implement
    "mime": ["execute/errors-cpu-limit.svtest"],
    "multiscript": ["multiscript/basic.svtest", "multiscript/conflicts.svtest"],
}

# generous bounds for the .svtest script itself (it compiles and runs many scripts); the
# scripts under test get the defaults (or what test_config_set says)
SUITE_LIMITS = Limits(max_script_size=1024 * 1024, max_steps=10_000_000,
                      max_cpu_ms=120_000, max_actions=10_000, max_redirects=1000,
                      max_variables=10_000)


@dataclass
class FileResult:
    group: str
    path: str
    passed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""  # the file did not compile or stopped with an error
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.error


def source_of(path: Path) -> bytes:
    """The file's script; ``.svtest.in`` templates have their ``#UTF8#`` lines enabled
    (Pigeonhole's build does that where UTF-8 is supported)."""
    data = path.read_bytes()
    if path.name.endswith(".svtest.in"):
        data = data.replace(b"#UTF8#", b"")
    return data


async def run_file(root: Path, group: str, relative: str) -> FileResult:
    """Run one .svtest file; its test blocks' outcomes."""
    out = FileResult(group, relative)
    path = root / "tests" / relative
    enabled = {*capabilities(), CAPABILITY}
    start = time.perf_counter()
    try:
        script = compile_script(source_of(path), limits=SUITE_LIMITS, enabled=enabled,
                                name=path.name)
    except SieveSyntaxError as exc:
        if group == "failures":
            out.passed = [f"failed as expected (does not compile: {exc})"]
            return out
        out.error = f"does not compile: {exc}"
        return out
    except OSError as exc:
        out.error = f"cannot read: {exc.strerror}"
        return out
    env = SuiteEnvironment(path.parent, Limits(), enabled)
    suite = Suite(path.parent, env, Limits())
    rt = Runtime(script, suite.message(), env, SUITE_LIMITS)
    rt.state["testsuite"] = suite
    suite.result = rt.result
    result = await run(rt, script)
    out.passed, out.failed = suite.passed, suite.failed
    if result.error is not None:
        out.error = f"stopped: {result.error}"
    out.seconds = time.perf_counter() - start
    if group == "failures":  # expected to fail: that it did is the pass
        failed = bool(out.failed or out.error)
        why = out.error or "; ".join(f"{n}: {w}" for n, w in out.failed)
        out.passed = [f"failed as expected ({why})"] if failed else []
        out.failed = [] if failed else [("the file", "passed, but should have failed")]
        out.error = ""
    return out


async def run_all(root: Path, groups: list[str]) -> list[FileResult]:
    results: list[FileResult] = []
    for group in groups:
        for relative in FILES[group]:
            results.append(await run_file(root, group, relative))
    return results


def table(results: list[FileResult], verbose: bool) -> str:
    """A Markdown table: file, passed, failed, and why a file failed as a whole."""
    lines = ["| capability | file | passed | failed | note |", "|---|---|---:|---:|---|"]
    for r in results:
        note = r.error.replace("|", "\\|")
        lines.append(f"| {r.group} | {r.path} | {len(r.passed)} | {len(r.failed)} | "
                     f"{note} |")
        if verbose:
            for name, why in r.failed:
                reason = why.replace("|", "\\|").replace("\n", " ")
                lines.append(f"|  | ↳ {name} |  |  | {reason} |")
    passed = sum(len(r.passed) for r in results)
    failed = sum(len(r.failed) for r in results)
    broken = sum(1 for r in results if r.error)
    lines.append(f"| **total** | {len(results)} files, {sum(r.ok for r in results)} all "
                 f"green | **{passed}** | **{failed}** | {broken} files did not run to "
                 "the end |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pigeonhole", type=Path, help="a Pigeonhole checkout")
    parser.add_argument("--only", default="", help="capabilities of FILES, comma-separated")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="list every failed test with its reason")
    args = parser.parse_args(argv)
    groups = [g for g in args.only.split(",") if g] or list(FILES)
    unknown = [g for g in groups if g not in FILES]
    if unknown:
        parser.error(f"unknown capability group(s): {', '.join(unknown)}")
    if not (args.pigeonhole / "tests").is_dir():
        parser.error(f"{args.pigeonhole} has no tests/ directory")
    results = asyncio.run(run_all(args.pigeonhole, groups))
    print(table(results, args.verbose))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
