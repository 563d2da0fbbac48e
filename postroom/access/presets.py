"""Sharing presets and rights in words: the vocabulary of the web pages' ACL editor.

A web page offers three presets and custom letters instead of the eleven RFC 4314 letters
alone, and explains an entry in words. Like IMAP's letters (access/vocab.py) this is only a
translation of the same stored rights (DESIGN.md §9: one vocabulary per face, all of them in
``access/``), so a grant made here reads back over IMAP GETACL letter for letter.
"""

from __future__ import annotations

from postroom.core.rights import ALL_LETTERS, Rights

# name -> (label, stored letters); docs/web.md ("ACL editor") describes them
PRESETS: dict[str, tuple[str, str]] = {
    "read": ("Read", "lrs"),
    "read-write": ("Read and write", "lrswipkxte"),
    "full": ("Full (may also share)", "lrswipkxtea"),
}

# RFC 4314 §2.1, one short phrase per right
MEANINGS: dict[str, str] = {
    "l": "see the folder",
    "r": "read messages",
    "s": "keep read/unread state",
    "w": "change flags",
    "i": "add messages",
    "p": "post to the folder's address",
    "k": "create subfolders",
    "x": "delete or rename the folder",
    "t": "delete messages",
    "e": "expunge",
    "a": "change who may access it",
}


def rights_for(preset: str, custom: str) -> str:
    """The stored letters a form asked for: a preset's, or ``custom`` letters (INVALID for
    an unknown letter; the obsolete ``c``/``d`` expand as RFC 4314 §2.1.1 says)."""
    if preset in PRESETS:
        return PRESETS[preset][1]
    return Rights.parse(custom.strip()).storage()


def preset_of(stored: str) -> str | None:
    """The preset whose letters are exactly ``stored``, if any."""
    letters = Rights.parse(stored).storage()
    for name, (_, preset) in PRESETS.items():
        if preset == letters:
            return name
    return None


def explain(stored: str) -> str:
    """An entry's rights in words, in RFC 4314 order: "see the folder, read messages"."""
    letters = Rights.parse(stored).letters
    return ", ".join(MEANINGS[ch] for ch in ALL_LETTERS if ch in letters) or "nothing"


def checklist(stored: str) -> list[tuple[str, str, bool]]:
    """Every right in RFC 4314 order as (letter, meaning, held by ``stored``): one labelled
    checkbox per right on a page, so a page needs no letters arithmetic of its own."""
    letters = Rights.parse(stored).letters
    return [(ch, MEANINGS[ch], ch in letters) for ch in ALL_LETTERS]
