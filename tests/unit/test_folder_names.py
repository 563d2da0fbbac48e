"""Folder names that could escape an export (issue 19, finding 4): what CREATE and RENAME
refuse (services/names.py) and how export names the folders already stored
(cli/export_names.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from postroom.cli.export_names import NAME_MAX, inside, is_safe, plan
from postroom.core.errors import Kind, MailError
from postroom.services.names import validate_path


@pytest.mark.parametrize("name", [".", "..", "a/..", "../a", "a/./b", "x" * 256,
                                  "\u00e9" * 128, "ok/" + "\U0001F600" * 64])
def test_refused(name: str) -> None:
    with pytest.raises(MailError) as err:
        validate_path(name)
    assert err.value.kind is Kind.INVALID


@pytest.mark.parametrize("name", ["x" * 255, "\u00e9" * 127, "...", "a.b/..c", ".hidden",
                                  "Work/2026"])
def test_allowed(name: str) -> None:
    assert validate_path(name) == name


def _entries(folders: list[str], fmt: str) -> dict[str, str | None]:
    return {d.folder: d.entry for d in plan(folders, fmt)}


def test_natural_names_unchanged() -> None:
    got = _entries(["INBOX", "Sent", "Work/Reports"], "maildir")
    assert got == {"INBOX": None, "Sent": ".Sent", "Work/Reports": ".Work.Reports"}
    got = _entries(["INBOX", "Work/Reports"], "mbox")
    assert got == {"INBOX": "INBOX.mbox", "Work/Reports": "Work.Reports.mbox"}


@pytest.mark.parametrize("fmt", ["maildir", "mbox"])
def test_stored_bad_names_get_safe_distinct_entries(fmt: str) -> None:
    folders = ["INBOX", ".", "..", "a/..", "y" * 300, "z/" + "\u00e9" * 200, "Work",
               "WORK", "ctl\x01x"]
    places = plan(folders, fmt)
    entries = [p.entry for p in places if p.entry is not None]
    assert len({e.casefold() for e in entries}) == len(entries)  # no clash, even on FAT/APFS
    for place in places:
        if place.entry is None:
            continue
        assert "/" not in place.entry and place.entry not in (".", "..")
        assert len(place.entry.encode()) <= NAME_MAX
        assert not any(ord(c) < 32 for c in place.entry)
    renamed = {p.folder for p in places if p.renamed}
    assert renamed == {".", "..", "a/..", "y" * 300, "z/" + "\u00e9" * 200, "WORK",
                       "ctl\x01x"}


def test_is_safe() -> None:
    assert is_safe("Work", ".Work")
    assert not is_safe(".", "..")
    assert not is_safe("a/..", ".a...")


def test_plan_is_stable() -> None:
    """The same folders get the same entries on every export (a re-export overwrites)."""
    folders = ["..", "q" * 400, "Work"]
    assert plan(folders, "maildir") == plan(list(folders), "maildir")


def test_inside_follows_symlinks(tmp_path: Path) -> None:
    out = tmp_path / "export"
    out.mkdir()
    assert inside(out, out / "a.mbox")
    assert not inside(out, out / ".." / "x")
    os.symlink(tmp_path, out / "link")
    assert not inside(out, out / "link" / "x")
