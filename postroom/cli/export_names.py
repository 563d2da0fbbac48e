"""Folder names as file names in an export, chosen so that every file lands inside the export.

A stored folder name is not always a safe file name. Names made before services/names.py
refused them may have a level that is ``.`` or ``..`` or longer than a file name may be, and
even a valid name, joined into the one directory entry a format wants (Maildir++ ``.a.b.c``,
mbox ``a.b.c.mbox``), may pass NAME_MAX (255 bytes). Written as they are, such names put files
outside the export directory (Maildir++ turns the folder ``.`` into the entry ``..``) or stop
an export half-way (``ENAMETOOLONG``).

So each folder gets its *natural* entry (what every earlier export wrote, and what
``postroom import maildir`` and other tools read back) when that entry is safe and still free,
and otherwise a *renamed* entry: the natural one with each ``.``/``..`` level, control
character and ``/`` replaced by ``_``, cut to fit, with ``~`` and 10 hex digits of the SHA-256
of the stored name appended (and a counter in the unlikely case that is taken), so it is
unique. The export prints every
renamed folder with its entry: that list is the way back to the stored names.

Safe means: a single path component that is not ``.`` or ``..``, no NUL or other control
character, at most ``NAME_MAX`` bytes of UTF-8, from a name whose levels are neither empty nor
``.``/``..``. "Free" is judged without regard to case (``str.casefold``), because an export may
be written to a case-insensitive file system (a USB stick, macOS) where ``Work.mbox`` and
``work.mbox`` are one file and the second would overwrite the first. ``inside`` is the last
line of defence at write time: the resolved path must lie below the export directory, so a
symbolic link already present in that directory cannot redirect the export either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from postroom.services.names import DELIMITER

NAME_MAX = 255  # bytes in one directory entry on ext4, XFS, btrfs, ZFS, APFS
HASH_DIGITS = 10
INBOX = "INBOX"


@dataclass(frozen=True, slots=True)
class DiskName:
    """Where one folder goes: ``entry`` below the export directory (``None``: the directory
    itself, Maildir++ INBOX); ``renamed`` when it is not the natural entry."""

    folder: str
    entry: str | None
    renamed: bool


def _fmt_parts(fmt: str) -> tuple[str, str]:
    """(prefix, suffix) of a folder's entry in each format."""
    if fmt == "maildir":
        return ".", ""  # Maildir++: subfolder a/b is the directory .a.b
    if fmt == "mbox":
        return "", ".mbox"
    raise ValueError(f"unknown export format {fmt!r}")


def _bad_char(c: str) -> bool:
    """A control character, the path separator, or a lone surrogate (no UTF-8 for it)."""
    o = ord(c)
    return o < 32 or o == 127 or c == "/" or 0xD800 <= o <= 0xDFFF


def _natural(folder: str, fmt: str) -> str | None:
    if fmt == "maildir" and folder == INBOX:
        return None
    prefix, suffix = _fmt_parts(fmt)
    return prefix + folder.replace(DELIMITER, ".") + suffix


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def is_safe(folder: str, entry: str) -> bool:
    """May ``entry`` (the natural entry of ``folder``) be written as it is?"""
    levels = folder.split(DELIMITER)
    return (entry not in ("", ".", "..") and not any(_bad_char(c) for c in entry)
            and _nbytes(entry) <= NAME_MAX
            and not any(level in ("", ".", "..") for level in levels))


def _cut(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` bytes of UTF-8 (whole characters)."""
    out: list[str] = []
    used = 0
    for c in text:
        n = _nbytes(c)
        if used + n > limit:
            break
        out.append(c)
        used += n
    return "".join(out)


def _renamed(folder: str, fmt: str, taken: set[str]) -> str:
    prefix, suffix = _fmt_parts(fmt)
    levels = ["_" * len(level) if level in (".", "..") else
              "".join("_" if _bad_char(c) else c for c in level)
              for level in folder.split(DELIMITER)]
    body = ".".join(levels)
    digest = hashlib.sha256(folder.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_DIGITS]
    n = 1
    while True:  # a counter only if another folder's entry already ends in the same digest
        tail = f"~{digest}{'' if n == 1 else f'-{n}'}{suffix}"
        entry = prefix + _cut(body, NAME_MAX - _nbytes(prefix) - _nbytes(tail)) + tail
        if entry.casefold() not in taken:
            return entry
        n += 1


def plan(folders: Iterable[str], fmt: str) -> list[DiskName]:
    """An entry for each folder, in the order given; distinct, safe entries guaranteed.

    Natural entries are handed out first (earlier folders win a clash), renamed ones after,
    so a folder whose name merely looks like a renamed entry never displaces another."""
    wanted = list(folders)
    taken: set[str] = set()
    chosen: dict[int, DiskName] = {}
    for i, folder in enumerate(wanted):
        entry = _natural(folder, fmt)
        if entry is None:
            chosen[i] = DiskName(folder, None, False)
        elif is_safe(folder, entry) and entry.casefold() not in taken:
            taken.add(entry.casefold())
            chosen[i] = DiskName(folder, entry, False)
    for i, folder in enumerate(wanted):
        if i not in chosen:
            entry = _renamed(folder, fmt, taken)
            taken.add(entry.casefold())
            chosen[i] = DiskName(folder, entry, True)
    return [chosen[i] for i in range(len(wanted))]


def inside(root: Path, path: Path) -> bool:
    """Does ``path``, with every symbolic link resolved, lie in or below ``root``?"""
    base = root.resolve()
    where = path.resolve()
    return where == base or base in where.parents
