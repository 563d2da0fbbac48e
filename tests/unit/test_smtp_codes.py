"""SMTP reply codes are named once (core/smtp.py) and shared by the server, the client and the
DSN writer (DESIGN.md §8): no bare ``250`` or ``"5.7.1"`` anywhere else."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from postroom.core import smtp
from postroom.core.envelope import Stage
from postroom.core.errors import Kind

ROOT = Path(__file__).resolve().parents[2] / "postroom"
ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
# The client's fallback when a peer sends no enhanced code maps a class to "X.0.0".
ALLOWED = {("mta/client.py", "2.0.0"), ("mta/client.py", "4.0.0"), ("mta/client.py", "5.0.0")}


def test_no_bare_codes_outside_the_codes_module() -> None:
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "core/smtp.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    ENHANCED.match(node.value) and (rel, node.value) not in ALLOWED:
                problems.append(f"{rel}:{node.lineno} {node.value!r}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr == "reply" and node.args and \
                    isinstance(node.args[0], ast.Constant):
                problems.append(f"{rel}:{node.lineno} reply({node.args[0].value!r}, …)")
            if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) and \
                    node.left.attr == "code" and any(
                        isinstance(c, ast.Constant) and isinstance(c.value, int)
                        for c in node.comparators):
                problems.append(f"{rel}:{node.lineno} compares .code with a number")
    assert problems == []


def test_every_stage_and_kind_has_a_deliberate_reply() -> None:
    """The kinds a service raises at each stage map to a reply; the rest fall back to a
    temporary local error, never to a permanent refusal by accident."""
    assert smtp.reply_for(Stage.RECIPIENT, Kind.NOT_FOUND) == smtp.NO_SUCH_USER
    assert smtp.reply_for(Stage.SENDER, Kind.NO_PERM) == smtp.SENDER_NOT_ALLOWED
    assert smtp.reply_for(Stage.CONTENT, Kind.LOOP) == smtp.LOOP_DETECTED
    assert smtp.reply_for(Stage.CONTENT, Kind.IN_USE) == smtp.LOCAL_ERROR
    assert smtp.reply_for(Stage.CONTENT, Kind.IN_USE).temporary
    # block lists and screening refuse for good; greylisting says "not yet" (451 4.7.1)
    assert smtp.reply_for(Stage.SENDER, Kind.POLICY) == smtp.POLICY_REFUSED
    assert str(smtp.POLICY_REFUSED) == "554 5.7.1"
    assert smtp.reply_for(Stage.RECIPIENT, Kind.DEFERRED) == smtp.GREYLISTED
    assert str(smtp.GREYLISTED) == "451 4.7.1"
    for (_stage, kind), code in smtp.REPLY_FOR.items():
        temporary = kind in (Kind.TEMPORARY, Kind.UNAVAILABLE, Kind.OVER_QUOTA, Kind.LIMIT,
                             Kind.DEFERRED)
        if code.temporary:
            assert temporary, (kind, code)
