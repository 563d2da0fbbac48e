"""The WBXML codec (protocols/eas/wbxml.py): round trips, every malformed input a
WbxmlError (hypothesis), bounds, and the independent implementations agreeing — Debian's
libwbxml2 (``wbxml2xml``/``xml2wbxml``) and pyactivesync's reader."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.protocols.eas import wbxml
from postroom.protocols.eas.codepages import PAGES
from postroom.protocols.eas.element import E, Element

SYNC = E("AirSync", "Sync", E("AirSync", "Collections", E(
    "AirSync", "Collection", E("AirSync", "SyncKey", text=7), E("AirSync", "CollectionId",
                                                               text="42"),
    E("AirSync", "GetChanges"), E("AirSync", "WindowSize", text=100),
    E("AirSync", "Options", E("AirSync", "FilterType", text=5), E(
        "AirSyncBase", "BodyPreference", E("AirSyncBase", "Type", text=2),
        E("AirSyncBase", "TruncationSize", text=5120))),
    E("AirSync", "Commands", E("AirSync", "Change", E("AirSync", "ServerId", text="42:7"),
                               E("AirSync", "ApplicationData", E("Email", "Read", text=1)))))))


def _same(a: Element, b: Element) -> bool:
    return (a.ns, a.name, a.text or None, a.data) == (b.ns, b.name, b.text or None, b.data) \
        and len(a.children) == len(b.children) \
        and all(_same(x, y) for x, y in zip(a.children, b.children, strict=True))


def test_round_trip_keeps_pages_text_and_opaque() -> None:
    doc = E("ComposeMail", "SendMail", E("ComposeMail", "ClientId", text="c-1"),
            E("ComposeMail", "SaveInSentItems"),
            E("ComposeMail", "Mime", data=b"From: a\r\n\r\n\x00\xff binary"))
    for tree in (doc, SYNC):
        data = wbxml.encode(tree)
        assert data.startswith(wbxml.HEADER)
        assert _same(wbxml.decode(data), tree)


def test_the_header_and_a_known_frame() -> None:
    # <FolderSync xmlns="FolderHierarchy:"><SyncKey>0</SyncKey></FolderSync>
    frame = bytes.fromhex("03016a00000756520330000101")
    root = wbxml.decode(frame)
    assert (root.ns, root.name, root.value("SyncKey")) == ("FolderHierarchy", "FolderSync", "0")
    assert wbxml.encode(root) == frame


@pytest.mark.parametrize("data, reason", [
    (b"", "shorter"),
    (b"\x03\x01\x6a\x00", "no root"),
    (b"\x03\x01\x6a\x00\x45", "left open"),
    (b"\x03\x01\x6a\x00\x00\x99\x45\x01", "unknown code page"),
    (b"\x03\x01\x6a\x00\x7f", "unknown token"),
    (b"\x03\x01\x6a\x00\x45\x03abc", "unterminated"),
    (b"\x03\x01\x6a\x00\x45\xc3\x9f\xff\xff\xff\x7f\x01", "32 bits"),
    (b"\x03\x01\x6a\x00\x45\xc3\x85\x00\x01", "past the end"),
    (b"\x03\x01\x6a\x00\x45\xc3\xff\xff\xff\xff\xff\x7f", "5 octets"),
    (b"\x03\x01\x6a\x00\x85\x01", "attributes"),
    (b"\x03\x01\x6a\x00\x05\x05", "after the root"),
    (b"\x03\x01\x04\x00\x05", "charset"),
    (b"\x03\x01\x6a\x00\x45\x83\x00\x01", "token"),
])
def test_malformed_input_is_a_wbxml_error(data: bytes, reason: str) -> None:
    with pytest.raises(wbxml.WbxmlError, match=reason):
        wbxml.decode(data)


def test_depth_is_bounded() -> None:
    deep = wbxml.HEADER + b"\x56" * 40 + b"\x01" * 40
    with pytest.raises(wbxml.WbxmlError, match="deeper"):
        wbxml.decode(deep, max_depth=32)
    assert wbxml.decode(wbxml.HEADER + b"\x56" * 5 + b"\x01" * 5, max_depth=32).name == \
        "Commands"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_ever_raise_wbxml_error(data: bytes) -> None:
    for candidate in (data, wbxml.HEADER + data):
        with contextlib.suppress(wbxml.WbxmlError):
            wbxml.decode(candidate)


_TAGS = [(name, tag) for name, tags in PAGES.values() for tag in tags.values()]


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> Element:
    ns, name = draw(st.sampled_from(_TAGS))
    kind = draw(st.integers(0, 2 if depth < 4 else 1))
    if kind == 0:
        return Element(ns, name, text=draw(st.text(
            st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
            min_size=1, max_size=20)))
    if kind == 1:
        return Element(ns, name, data=draw(st.binary(max_size=30)))
    return Element(ns, name, [draw(trees(depth + 1)) for _ in range(draw(st.integers(0, 3)))])


@settings(max_examples=300, deadline=None)
@given(trees())
def test_any_tree_round_trips(tree: Element) -> None:
    assert _same(wbxml.decode(wbxml.encode(tree), max_depth=64), tree)


@pytest.mark.skipif(shutil.which("wbxml2xml") is None, reason="libwbxml2-utils not installed")
def test_libwbxml_reads_what_we_write(tmp_path: Path) -> None:
    path = tmp_path / "sync.wbxml"
    path.write_bytes(wbxml.encode(SYNC))
    out = tmp_path / "sync.xml"
    subprocess.run(["wbxml2xml", "-l", "ACTIVESYNC", "-o", str(out), str(path)], check=True,
                   capture_output=True, timeout=30)
    xml = out.read_text()
    for piece in ('<Sync xmlns="AirSync:">', "<CollectionId>42</CollectionId>",
                  '<BodyPreference xmlns="AirSyncBase:">', "<TruncationSize>5120<",
                  '<Read xmlns="Email:">1</Read>', "<GetChanges/>"):
        assert piece in xml, (piece, xml)


@pytest.mark.skipif(shutil.which("xml2wbxml") is None, reason="libwbxml2-utils not installed")
def test_we_read_what_libwbxml_writes(tmp_path: Path) -> None:
    xml = tmp_path / "ping.xml"
    xml.write_text('<?xml version="1.0"?>\n<!DOCTYPE ActiveSync PUBLIC "-//MICROSOFT//DTD '
                   'ActiveSync//EN" "http://www.microsoft.com/">\n<Ping xmlns="Ping:">'
                   "<HeartbeatInterval>480</HeartbeatInterval><Folders><Folder><Id>5</Id>"
                   "<Class>Email</Class></Folder></Folders></Ping>")
    out = tmp_path / "ping.wbxml"
    subprocess.run(["xml2wbxml", "-v", "1.3", "-n", "-o", str(out), str(xml)], check=True,
                   capture_output=True, timeout=30)
    root = wbxml.decode(out.read_bytes())
    assert root.name == "Ping" and root.value("HeartbeatInterval") == "480"
    folder = root.path("Folders", "Folder")
    assert folder is not None and folder.value("Id") == "5" and folder.value("Class") == "Email"


def test_pyactivesync_reads_what_we_write() -> None:
    reader = pytest.importorskip("pyactivesync._wbxml")
    nodes = reader.WBXMLReader(wbxml.encode(SYNC)).parse()
    assert reader.text_of(reader.find(nodes, "AirSync.CollectionId")) == "42"
    assert reader.text_of(reader.find(nodes, "AirSyncBase.TruncationSize")) == "5120"


def test_split_content_is_joined_and_mixing_refused() -> None:
    # <Sync><SyncKey>"ab" "c"</SyncKey></Sync>, then the same with OPAQUE pieces
    text = wbxml.HEADER + b"\x45\x4b\x03ab\x00\x03c\x00\x01\x01"
    assert wbxml.decode(text).value("SyncKey") == "abc"
    blob = wbxml.HEADER + b"\x45\x4b\xc3\x02ab\xc3\x01c\x01\x01"
    key = wbxml.decode(blob).find("SyncKey")
    assert key is not None and key.data == b"abc"
    for mixed in (wbxml.HEADER + b"\x45\x4b\x03a\x00\xc3\x01b\x01\x01",
                  wbxml.HEADER + b"\x45\x03a\x00\x4b\x01\x01",
                  wbxml.HEADER + b"\x45\x0b\x03a\x00\x01"):
        with pytest.raises(wbxml.WbxmlError, match="mixes"):
            wbxml.decode(mixed)


def test_many_small_pieces_decode_in_linear_time() -> None:
    # 4 MB of 3-octet pieces (the default web.eas.max_request_size): joined once, not
    # piece by piece (which is quadratic: minutes instead of well under a second)
    count = (4 << 20) // 3
    for piece in (b"\x03a\x00", b"\xc3\x01a"):
        body = wbxml.HEADER + b"\x45\x4b" + piece * count + b"\x01\x01"
        started = time.perf_counter()
        # the element bound (web.eas.max_wbxml_elements, 100,000 by default) refuses this
        # many pieces; raised here so the joining itself is what is timed
        key = wbxml.decode(body, max_elements=count + 10).find("SyncKey")
        assert key is not None and len(key.text or key.data or b"") == count
        assert time.perf_counter() - started < 10
        with pytest.raises(wbxml.WbxmlError, match="elements"):
            wbxml.decode(body)


def test_text_a_string_cannot_carry_is_sent_as_replacement_characters() -> None:
    # a subject from stored mail with a NUL or a lone surrogate must not fail the Sync
    for text, sent in (("a\x00b", "a\ufffdb"), ("x\udcffy", "x\ufffdy"), ("ok é", "ok é")):
        tree = E("Email", "Subject", text=text)
        assert wbxml.decode(wbxml.encode(tree)).text == sent


def test_the_number_of_elements_is_bounded() -> None:
    """One octet per empty tag would cost ~130 octets of objects each: a 4 MB body of them
    was half a gigabyte and seconds of the event loop (security review, finding 1)."""
    many = wbxml.HEADER + b"\x45" + b"\x0b" * 5000 + b"\x01"  # <Sync> + 5,000 <SyncKey/>
    with pytest.raises(wbxml.WbxmlError, match="more than 1000 elements"):
        wbxml.decode(many, max_elements=1000)
    pieces = wbxml.HEADER + b"\x45\x4b" + b"\x03a\x00" * 2000 + b"\x01\x01"
    with pytest.raises(wbxml.WbxmlError, match="more than 1000 elements"):
        wbxml.decode(pieces, max_elements=1000)
    assert len(wbxml.decode(many, max_elements=10_000).children) == 5000
