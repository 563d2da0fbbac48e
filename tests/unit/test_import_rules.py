"""DESIGN.md §3 import rules and the gate's guarantees, checked on the source.

- layers: a module imports only its own layer or lower ones (LAYERS below);
- front-ends (protocols/, web/), the MTA (mta/) and the CLI (cli/) never import the store;
- only app.py names concrete backends;
- no import cycle at all, imports under ``TYPE_CHECKING`` included;
- no module outside access/ (and the core and store layers below it) looks at rights letters;
- a ``MailboxHandle`` is made only by the gate (access/gate.py);
- front-ends never reach for a ``store`` attribute.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.access.gate import MailboxHandle
from postroom.core.records import MailboxRec
from postroom.core.rights import Rights

ROOT = Path(__file__).resolve().parents[2] / "postroom"
CONCRETE = ("postroom.store.sqlite", "postroom.store.postgres", "postroom.store.s3")

# Lowest first; a module may import modules of its own layer and of layers before it.
LAYERS: list[tuple[str, ...]] = [
    ("postroom.core", "postroom.__init__"),
    ("postroom.mime", "postroom.pim", "postroom.obs", "postroom.config", "postroom.config_rules",
     "postroom.config_filters", "postroom.config_base", "postroom.config_web",
     "postroom.config_webmail", "postroom.config_dav", "postroom.config_eas",
     "postroom.config_acme", "postroom.config_sieve", "postroom.config_cluster",
     "postroom.sieve",
     "postroom.privileges"),
    ("postroom.store",),
    ("postroom.net",),
    ("postroom.directory", "postroom.access"),
    ("postroom.services",),
    ("postroom.mta",),
    ("postroom.protocols", "postroom.web"),
    ("postroom.registry", "postroom.lifecycle", "postroom.app"),
    ("postroom.server",),
    ("postroom.cli", "postroom.__main__"),
]
NO_STORE = ("postroom.protocols", "postroom.web", "postroom.mta", "postroom.cli")
FRONT_ENDS = ("postroom.protocols", "postroom.web")
# Names that carry rights letters or the table of them; only these packages may touch them.
RIGHTS_OWNERS = ("postroom.access", "postroom.core", "postroom.store")
RIGHTS_NAMES = {"VISIBLE_RIGHTS", "GROUPWARE_UNUSED", "ALL_LETTERS", "CREATE_GROUP",
                "DELETE_GROUP", "OP_RIGHTS", "effective_rights"}
RIGHTS_ATTRS = {"letters", "has_any", "has_all", "storage", "display", "satisfied_by", "parse",
                "all"}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return "postroom." + ".".join(parts)


def _files() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(ROOT.rglob("*.py")):
        yield _module(path), path, ast.parse(path.read_text(encoding="utf-8"))


def _imports(tree: ast.Module, module: str, modules: set[str]) -> set[str]:
    """Every postroom module imported anywhere in ``tree`` (TYPE_CHECKING blocks included);
    ``from pkg import name`` counts as importing ``pkg.name`` when that is a module."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".")[:-node.level] if not module.endswith("__init__") \
                    else module.split(".")
                base = ".".join([*pkg, base] if base else pkg)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in modules else base)
    return {m for m in out if m.startswith("postroom")}


def _layer(module: str) -> int:
    for i, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def _graph() -> dict[str, set[str]]:
    files = list(_files())
    modules = {m for m, _, _ in files}
    return {m: _imports(tree, m, modules) & modules for m, _, tree in files}


def test_layers_store_and_backends() -> None:
    problems = []
    graph = _graph()
    assert len(graph) > 30
    for mod, imports in graph.items():
        for imp in imports:
            if mod.startswith("postroom.core.") and not imp.startswith("postroom.core"):
                problems.append(f"{mod} (core) imports {imp}")
            if mod.startswith(NO_STORE) and imp.startswith("postroom.store"):
                problems.append(f"{mod} imports the store ({imp})")
            if imp.startswith(CONCRETE) and mod != "postroom.app" and \
                    not mod.startswith(CONCRETE):
                problems.append(f"{mod} imports concrete backend {imp}")
            if _layer(imp) > _layer(mod):
                problems.append(f"{mod} imports {imp}, a higher layer")
    assert problems == []


def test_no_import_cycles() -> None:
    """Tarjan's strongly connected components over the whole module graph."""
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


def test_rights_letters_stay_in_access() -> None:
    """Front-ends, services, the MTA and the CLI ask the gate (``handle.allows(Op.X)``) or
    translate with access/vocab.py; they never test letters or read the table themselves."""
    problems = []
    for mod, path, tree in _files():
        if mod.startswith(RIGHTS_OWNERS):
            continue
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Name) and node.id in RIGHTS_NAMES:
                problems.append(f"{where} uses {node.id}")
            elif isinstance(node, ast.alias) and node.name in RIGHTS_NAMES:
                problems.append(f"{where} imports {node.name}")
            elif isinstance(node, ast.Attribute) and node.attr in RIGHTS_ATTRS and \
                    "right" in ast.unparse(node.value).lower():
                problems.append(f"{where} uses {ast.unparse(node)}")
            elif isinstance(node, ast.Compare) and any(
                    isinstance(op, (ast.In, ast.NotIn)) for op in node.ops) and \
                    isinstance(node.left, ast.Constant) and isinstance(node.left.value, str) \
                    and len(node.left.value) == 1 and node.left.value in "lrswipkxteacd" and \
                    "right" in ast.unparse(node.comparators[0]).lower():
                problems.append(f"{where} tests a rights letter")
    assert problems == []


def test_only_the_gate_makes_handles() -> None:
    problems = []
    for mod, path, tree in _files():
        if mod == "postroom.access.gate":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
                name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
                if name == "MailboxHandle":
                    problems.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert problems == []
    rec = MailboxRec(1, 1, 1, "INBOX", None, "mail", "", None, 1, 1, 1, 0, 0)
    with pytest.raises(TypeError, match="access gate"):
        MailboxHandle(rec, Rights.all(), "INBOX")
    with pytest.raises(TypeError, match="access gate"):
        MailboxHandle(rec, Rights.all(), "INBOX", token=object())


def test_front_ends_never_reach_for_the_store() -> None:
    """Not by import (above) and not by attribute: no ``.store``/``._store`` in front-ends."""
    problems = []
    for mod, path, tree in _files():
        if not mod.startswith(FRONT_ENDS):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("store", "_store", "repo",
                                                                 "_repo"):
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert problems == []


def test_modules_stay_small() -> None:
    big = [f"{p.relative_to(ROOT)}: {n}" for p in ROOT.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > 800]
    assert big == []
