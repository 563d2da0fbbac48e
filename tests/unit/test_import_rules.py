"""DESIGN.md §3 import rules, checked on the source: core imports nothing of ours; protocols and
web never import the store; only app.py imports concrete backends."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "postroom"
CONCRETE = ("postroom.store.sqlite", "postroom.store.postgres")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return {m for m in out if m.startswith("postroom")}


def _module(path: Path) -> str:
    return "postroom." + ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_rules() -> None:
    problems = []
    files = sorted(ROOT.rglob("*.py"))
    assert len(files) > 30
    for path in files:
        mod = _module(path)
        for imp in _imports(path):
            if mod.startswith("postroom.core.") and not imp.startswith("postroom.core"):
                problems.append(f"{mod} (core) imports {imp}")
            if mod.startswith(("postroom.protocols.", "postroom.web.")) and \
                    imp.startswith("postroom.store"):
                problems.append(f"{mod} (front-end) imports {imp}")
            if imp.startswith(CONCRETE) and mod != "postroom.app" and \
                    not mod.startswith(CONCRETE):
                problems.append(f"{mod} imports concrete backend {imp}")
    assert problems == []


def test_modules_stay_small() -> None:
    big = [f"{p.relative_to(ROOT)}: {n}" for p in ROOT.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > 800]
    assert big == []
