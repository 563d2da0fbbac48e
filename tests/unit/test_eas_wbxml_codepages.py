"""The code pages (protocols/eas/codepages.py) against Debian's libwbxml2, an independent
table: every token of every page the library knows is written by our encoder and read back
by ``wbxml2xml -l ACTIVESYNC`` under the same page and the same name — allowing for the
library's own spellings (``Recurrence_Type`` for a Calendar ``Type``, ``BusinessCity`` for
``BusinessAddressCity``, …), listed here one by one where no rule explains them — and the
spot checks of MS-ASWBXML §2.1.2.1 that libwbxml2 cannot make (Find, 16.1's additions)."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from postroom.protocols.eas import wbxml
from postroom.protocols.eas.codepages import ALIASES, PAGE_NUMBERS, PAGES, TOKENS
from postroom.protocols.eas.element import Element

# libwbxml2's names where no general rule (a ``Recurrence_``-style prefix, ``Address``
# dropped from a postal field, letter case) gives ours
LIBWBXML_SPELLING: dict[tuple[str, str], str] = {
    ("Contacts", "AssistantPhoneNumber"): "AssistantTelephoneNumber",
    ("Email", "Att0Id"): "AttOId",
    ("Email", "Status"): "FlagStatus",
    ("Calendar", "CompressedRTF"): "Compressed_RTF",
    ("Provision", "RequireStorageCardEncryption"): "DeviceEncryptionEnabled",  # the 12.0 name
    ("Settings", "RightsManagementInformation"): "ihsManagementInformation",  # its typo
    ("ComposeMail", "Mime"): "MIME",
}
# pages and tokens libwbxml2 does not know (newer than its tables)
NOT_IN_LIBWBXML: set[tuple[str, str]] = {("Provision", "AccountOnlyRemoteWipe")}
PAGES_NOT_IN_LIBWBXML = {"Find"}
LIBWBXML_PAGE_NAME = {"GAL": "Gal"}
_PREFIXES = ("recurrence", "attendee", "exception", "organizer")


def _norm(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def _same_name(page: str, ours: str, theirs: str) -> bool:
    if LIBWBXML_SPELLING.get((page, ours)) == theirs:
        return True
    a, b = _norm(ours), _norm(theirs)
    if a == b or a.replace("address", "") == b:
        return True
    return any(b == prefix + a for prefix in _PREFIXES)


def _libwbxml_names(tmp_path: Path, page: str) -> list[tuple[str, str]]:
    """(page, name) of each child of a document holding every tag of ``page`` once."""
    tags = sorted(PAGES[PAGE_NUMBERS[page]][1].items())
    doc = Element(page, tags[0][1], [Element(page, name, text="x") for _, name in tags])
    src, out = tmp_path / f"{page}.wbxml", tmp_path / f"{page}.xml"
    src.write_bytes(wbxml.encode(doc))
    subprocess.run(["wbxml2xml", "-l", "ACTIVESYNC", "-o", str(out), str(src)], check=True,
                   capture_output=True, timeout=30)
    text = out.read_text()
    root = ET.fromstring(text[text.index("?>") + 2:] if "?>" in text else text)
    names = []
    for child in root:
        ns, _, local = child.tag.partition("}")
        names.append((ns.lstrip("{").rstrip(":"), local))
    return names


@pytest.mark.skipif(shutil.which("wbxml2xml") is None, reason="libwbxml2-utils not installed")
@pytest.mark.parametrize("page", [name for name, _ in PAGES.values()
                                  if name not in PAGES_NOT_IN_LIBWBXML])
def test_every_token_as_libwbxml_names_it(tmp_path: Path, page: str) -> None:
    tags = sorted(PAGES[PAGE_NUMBERS[page]][1].items())
    got = _libwbxml_names(tmp_path, page)
    assert len(got) == len(tags)
    wrong = []
    for (token, ours), (their_page, theirs) in zip(tags, got, strict=True):
        if (page, ours) in NOT_IN_LIBWBXML:
            continue
        if their_page != LIBWBXML_PAGE_NAME.get(page, page) \
                or not _same_name(page, ours, theirs):
            wrong.append((hex(token), ours, f"{their_page}:{theirs}"))
    assert not wrong


def test_pages_are_numbered_as_the_spec() -> None:
    assert [PAGES[n][0] for n in range(0x1A)] == [
        "AirSync", "Contacts", "Email", "AirNotify", "Calendar", "Move", "GetItemEstimate",
        "FolderHierarchy", "MeetingResponse", "Tasks", "ResolveRecipients", "ValidateCert",
        "Contacts2", "Ping", "Provision", "Search", "GAL", "AirSyncBase", "Settings",
        "DocumentLibrary", "ItemOperations", "ComposeMail", "Email2", "Notes",
        "RightsManagement", "Find"]


@pytest.mark.parametrize("page, name, token", [
    # MS-ASWBXML §2.1.2.1 spot checks, most of them newer than libwbxml2's tables
    ("Find", "Find", 0x05), ("Find", "GalSearchCriterion", 0x19), ("Find", "Picture", 0x22),
    ("Provision", "AccountOnlyRemoteWipe", 0x3B), ("AirSyncBase", "InstanceId", 0x2D),
    ("Email2", "Send", 0x17), ("Email", "Status", 0x3B), ("Email", "FlagStatus", 0x3B),
    ("Calendar", "ClientUid", 0x3C), ("AirSync", "Sync", 0x05),
    ("ItemOperations", "MoveAlways", 0x19), ("ComposeMail", "Forwardees", 0x15),
])
def test_spec_tokens(page: str, name: str, token: int) -> None:
    assert TOKENS[page][name] == token


def test_tokens_are_in_range_and_names_unique_per_page() -> None:
    for page, tags in PAGES.values():
        assert all(0x05 <= token <= 0x3F for token in tags), page
        assert len(set(tags.values())) == len(tags), page
    for (page, alias), target in ALIASES.items():
        assert TOKENS[page][alias] == TOKENS[page][target]
