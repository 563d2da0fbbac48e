"""Golden tests from the RFCs' own examples (tests/sieve/golden/*.txt).

Each file holds scripts taken from an RFC's text, messages written for them and the actions
expected, in sections:

    ### script: <title>          the script (until the next ### line)
    ### message: <title> [sender=<addr>] [recipient=<addr>] [mailboxes=<a,b>]
    <the message, LF line ends>
    ### expect                    summary() lines of tests/support/sieve.py
    ### compile-error             the str() of the SieveSyntaxError, exactly

A script applies to the messages that follow it until the next script. Lines starting
with "#" before the first section are comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from postroom.sieve import capabilities, compile_script
from postroom.sieve.errors import SieveSyntaxError
from tests.support.sieve import DictEnvironment, run_script, summary

GOLDEN = Path(__file__).parent / "golden"


@dataclass
class Case:
    file: str
    script_title: str
    script: str
    title: str = ""
    message: str = ""
    options: dict[str, str] = field(default_factory=dict)
    expect: list[str] = field(default_factory=list)
    compile_error: str | None = None

    @property
    def id(self) -> str:
        return f"{self.file}:{self.script_title}:{self.title or 'compile'}"


def _sections(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    head: str | None = None
    body: list[str] = []
    for line in text.split("\n"):
        if line.startswith("### "):
            if head is not None:
                out.append((head, "\n".join(body)))
            head, body = line[4:], []
        elif head is not None:
            body.append(line)
    if head is not None:
        out.append((head, "\n".join(body)))
    return out


def load_cases() -> list[Case]:
    cases: list[Case] = []
    for path in sorted(GOLDEN.glob("*.txt")):
        script_title, script = "", ""
        current: Case | None = None
        for head, body in _sections(path.read_text(encoding="utf-8")):
            kind, _, rest = head.partition(":")
            if kind == "script":
                script_title, script = rest.strip(), body
            elif kind == "message":
                words = rest.split()
                options = dict(w.split("=", 1) for w in words if "=" in w)
                title = " ".join(w for w in words if "=" not in w)
                current = Case(path.stem, script_title, script, title,
                               body.rstrip("\n") + "\n", options)
            elif kind == "expect":
                assert current is not None, f"{path}: expect without a message"
                current.expect = [x for x in body.split("\n") if x.strip()]
                cases.append(current)
                current = None
            elif kind == "compile-error":
                cases.append(Case(path.stem, script_title, script,
                                  compile_error=body.strip()))
            else:
                raise AssertionError(f"{path}: unknown section {head!r}")
    return cases


CASES = load_cases()


def _missing_capabilities(script: str) -> list[str]:
    wanted = {w for line in script.split("\n") if line.startswith("require")
              for w in re.findall(r'"([^"]+)"', line)}
    return sorted(wanted - set(capabilities()))


def test_golden_files_hold_cases() -> None:
    assert len(CASES) > 50
    assert {c.file for c in CASES} >= {"rfc5228", "rfc5232", "rfc5173", "rfc5231",
                                       "rfc5233", "rfc3894", "rfc5429"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_golden(case: Case) -> None:
    missing = _missing_capabilities(case.script)
    if missing:  # another part's extension not on this branch yet
        pytest.skip(f"needs {', '.join(missing)}")
    if case.compile_error is not None:
        with pytest.raises(SieveSyntaxError) as caught:
            compile_script(case.script)
        assert str(caught.value) == case.compile_error
        return
    env = DictEnvironment()
    if "mailboxes" in case.options:
        env.mailboxes = set(case.options["mailboxes"].split(","))
    result = await run_script(case.script, case.message, env=env,
                              sender=case.options.get("sender", "sender@example.com"),
                              recipient=case.options.get("recipient", "user@example.org"))
    assert "\n".join(summary(result)) == "\n".join(case.expect)
