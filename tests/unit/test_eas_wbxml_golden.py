"""Golden documents (tests/eas/golden/*.xml, the shapes of MS-ASCMD §4's examples) through
our codec and two independent implementations:

- our encoder → libwbxml2's ``wbxml2xml -l ACTIVESYNC`` → the same tree (pages, names in
  libwbxml2's spelling, text, OPAQUE as base64);
- that XML → libwbxml2's ``xml2wbxml`` → our decoder → the golden tree again;
- our encoder → pyactivesync's reader → the same page and token for every tag, the same
  text and bytes (for the pages pyactivesync knows, by number: it names some its own way).

The golden XML convention: a code page is the namespace ``Page:``; an element with
``opaque="1"`` holds OPAQUE bytes written in base64; a leaf's text is kept exactly."""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.protocols.eas import wbxml
from postroom.protocols.eas.codepages import PAGE_NUMBERS, PAGES, TOKENS
from postroom.protocols.eas.element import Element
from tests.unit.test_eas_wbxml import trees
from tests.unit.test_eas_wbxml_codepages import (
    LIBWBXML_PAGE_NAME,
    NOT_IN_LIBWBXML,
    PAGES_NOT_IN_LIBWBXML,
    _same_name,
)

GOLDEN = Path(__file__).resolve().parents[1] / "eas" / "golden"
FILES = sorted(GOLDEN.glob("*.xml"))
HAVE_LIBWBXML = shutil.which("wbxml2xml") is not None and shutil.which("xml2wbxml") is not None


def _split(tag: str) -> tuple[str, str]:
    ns, _, local = tag.partition("}")
    return ns.lstrip("{").rstrip(":"), local


def from_xml(node: ET.Element, *, golden: bool = True) -> Element:
    """An Element from golden XML (or from libwbxml2's output when ``golden`` is False:
    then names stay libwbxml2's and OPAQUE arrives as base64 text)."""
    ns, name = _split(node.tag)
    children = [from_xml(child, golden=golden) for child in node]
    if children:
        return Element(ns, name, children)
    if golden and node.get("opaque") == "1":
        return Element(ns, name, data=base64.b64decode(node.text or ""))
    return Element(ns, name, text=node.text or None)


def golden(path: Path) -> Element:
    return from_xml(ET.parse(path).getroot())


# OPAQUE content libwbxml2 writes into its XML as it is, not in base64 (the ItemOperations
# Data of a fetched attachment): binary there would not be XML, so for libwbxml2 the golden
# bytes are swapped for printable ones (their own base64) before encoding
LIBWBXML_RAW_OPAQUE = {("ItemOperations", "Data")}


def _printable(tree: Element) -> Element:
    if (tree.ns, tree.name) in LIBWBXML_RAW_OPAQUE and tree.data is not None:
        return Element(tree.ns, tree.name, data=base64.b64encode(tree.data))
    return Element(tree.ns, tree.name, [_printable(c) for c in tree.children], tree.text,
                   tree.data)


def _xml_text(text: str | None) -> str | None:
    """Text as it survives an XML round trip: line ends normalised (XML 1.0 §2.11) and
    libwbxml2 trims leading and trailing white space."""
    return text.replace("\r\n", "\n").strip() or None if text else None


def _opaque_as_text(ours: Element, text: str | None, either: bool) -> bool:
    """Whether libwbxml2's text for an OPAQUE element holds its bytes: base64, or as they
    are for the elements it writes raw (either, when the test cannot know which)."""
    raw = (text or "").encode() == ours.data
    if raw and (either or (ours.ns, ours.name) in LIBWBXML_RAW_OPAQUE):
        return True
    try:
        return base64.b64decode(text or "", validate=True) == ours.data
    except ValueError:
        return False


def _loosely(ours: Element, theirs: Element) -> bool:
    """Same content as octets, however libwbxml2 carried it: it writes some elements'
    content (ConversationId, attachment Data) in base64 or raw whatever the token, and
    reads them back as OPAQUE."""
    mine = ours.data if ours.data is not None else (ours.text or "").encode()
    if theirs.data is not None:
        return theirs.data == mine
    text = theirs.text or ""
    if text.encode() == mine or _xml_text(text) == _xml_text(ours.text):
        return True
    try:
        return base64.b64decode(text, validate=True) == mine
    except ValueError:
        return False


def _lib_matches(ours: Element, theirs: Element, where: str = "", *,
                 either: bool = False) -> list[str]:
    """Differences between a golden tree and libwbxml2's reading of it."""
    here = f"{where}/{ours.name}"
    problems = []
    if theirs.ns != LIBWBXML_PAGE_NAME.get(ours.ns, ours.ns) \
            or not _same_name(ours.ns, ours.name, theirs.name):
        problems.append(f"{here}: {theirs.ns}:{theirs.name}")
    if either and not ours.children:
        if not _loosely(ours, theirs):
            problems.append(f"{here}: content {theirs.text!r}")
    elif ours.data is not None:
        if not _opaque_as_text(ours, theirs.text, either):
            problems.append(f"{here}: opaque {theirs.text!r}")
    elif _xml_text(ours.text) != _xml_text(theirs.text):
        problems.append(f"{here}: text {theirs.text!r} != {ours.text!r}")
    if len(ours.children) != len(theirs.children):
        return [*problems, f"{here}: {len(theirs.children)} children"]
    for a, b in zip(ours.children, theirs.children, strict=True):
        problems.extend(_lib_matches(a, b, here, either=either))
    return problems


def _same(a: Element, b: Element, *, opaque_as_text: bool = False,
          either: bool = False) -> bool:
    if (a.ns, a.name) != (b.ns, b.name) or len(a.children) != len(b.children):
        return False
    if either and not a.children:
        content_ok = _loosely(a, b)
    elif a.data is not None and opaque_as_text and b.data is None:
        content_ok = _opaque_as_text(a, b.text, either)
    elif opaque_as_text:
        content_ok = (_xml_text(a.text), a.data) == (_xml_text(b.text), b.data)
    else:
        content_ok = (a.text or None, a.data) == (b.text or None, b.data)
    return content_ok and all(_same(x, y, opaque_as_text=opaque_as_text, either=either)
                              for x, y in zip(a.children, b.children, strict=True))


def test_there_are_golden_documents_for_the_main_commands() -> None:
    roots = {golden(path).name for path in FILES}
    assert {"FolderSync", "Sync", "Ping", "Provision", "SendMail", "ItemOperations",
            "Search"} <= roots


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_golden_round_trips_through_our_codec(path: Path) -> None:
    tree = golden(path)
    data = wbxml.encode(tree)
    assert _same(wbxml.decode(data), tree)
    assert wbxml.encode(wbxml.decode(data)) == data


@pytest.mark.skipif(not HAVE_LIBWBXML, reason="libwbxml2-utils not installed")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_golden_through_libwbxml_both_ways(tmp_path: Path, path: Path) -> None:
    tree = _printable(golden(path))
    ours = tmp_path / "ours.wbxml"
    ours.write_bytes(wbxml.encode(tree))
    xml = tmp_path / "lib.xml"
    subprocess.run(["wbxml2xml", "-l", "ACTIVESYNC", "-m", "0", "-o", str(xml), str(ours)],
                   check=True, capture_output=True, timeout=30)
    assert _lib_matches(tree, from_xml(ET.parse(xml).getroot(), golden=False)) == []
    back = tmp_path / "lib.wbxml"
    subprocess.run(["xml2wbxml", "-v", "1.3", "-n", "-o", str(back), str(xml)], check=True,
                   capture_output=True, timeout=30)
    assert _same(tree, wbxml.decode(back.read_bytes()), opaque_as_text=True)


def _py_token(reader: Any, tag: str) -> tuple[int, int]:
    from pyactivesync._codepages import CODEPAGES, PAGE_INDEX
    page_name, _, name = tag.partition(".")
    page = PAGE_INDEX[page_name] if page_name in PAGE_INDEX else int(page_name[4:])
    token = CODEPAGES[page_name][name] if not name.startswith("0x") else int(name, 16)
    return page, token


def _py_matches(reader: Any, ours: Element, node: Any) -> bool:
    tag, _, children = node
    if _py_token(reader, tag) != (PAGE_NUMBERS[ours.ns], TOKENS[ours.ns][ours.name]):
        return False
    if ours.children:
        return len(children) == len(ours.children) and all(
            _py_matches(reader, a, b) for a, b in zip(ours.children, children, strict=True))
    if ours.data is not None:
        return bool(reader.opaque_of(node) == ours.data)
    return bool(reader.text_of(node) == ours.text)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_golden_through_pyactivesync(path: Path) -> None:
    reader = pytest.importorskip("pyactivesync._wbxml")
    tree = golden(path)
    nodes = reader.WBXMLReader(wbxml.encode(tree)).parse()
    assert len(nodes) == 1 and _py_matches(reader, tree, nodes[0])


@settings(max_examples=200, deadline=None)
@given(trees())
def test_pyactivesync_reads_any_tree_we_write(tree: Element) -> None:
    reader = pytest.importorskip("pyactivesync._wbxml")
    nodes = reader.WBXMLReader(wbxml.encode(tree)).parse()
    assert len(nodes) == 1 and _py_matches(reader, tree, nodes[0])



_LIB_TAGS = sorted((page, name) for page, tags in PAGES.values() for name in tags.values()
                   if page not in PAGES_NOT_IN_LIBWBXML and (page, name) not in NOT_IN_LIBWBXML
                   and (page, name) not in LIBWBXML_RAW_OPAQUE)
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_XML_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF,
                                  exclude_characters="<>&"), min_size=1, max_size=12)


@st.composite
def lib_trees(draw: st.DrawFn, depth: int = 0) -> Element:
    """Trees libwbxml2 can hold: its pages and tokens, text that survives XML."""
    ns, name = draw(st.sampled_from(_LIB_TAGS))
    kind = draw(st.integers(0, 2 if depth < 3 else 1))
    if kind == 0:
        return Element(ns, name, text=draw(_XML_TEXT))
    if kind == 1:
        # printable: libwbxml2 writes some OPAQUE content into its XML as it is
        return Element(ns, name, data=draw(st.text(_ALNUM, min_size=1, max_size=12)).encode())
    return Element(ns, name, [draw(lib_trees(depth + 1)) for _ in range(draw(st.integers(1, 3)))])


@pytest.mark.skipif(not HAVE_LIBWBXML, reason="libwbxml2-utils not installed")
@settings(max_examples=25, deadline=None)
@given(lib_trees())
def test_libwbxml_agrees_on_any_tree(tree: Element) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ours, xml, back = (Path(tmp) / name for name in ("o.wbxml", "l.xml", "l.wbxml"))
        ours.write_bytes(wbxml.encode(tree))
        subprocess.run(["wbxml2xml", "-l", "ACTIVESYNC", "-m", "0", "-o", str(xml), str(ours)],
                       check=True, capture_output=True, timeout=30)
        assert _lib_matches(tree, from_xml(ET.parse(xml).getroot(), golden=False),
                            either=True) == []
        subprocess.run(["xml2wbxml", "-v", "1.3", "-n", "-o", str(back), str(xml)],
                       check=True, capture_output=True, timeout=30)
        assert _same(tree, wbxml.decode(back.read_bytes(), max_depth=64),
                     opaque_as_text=True, either=True)
