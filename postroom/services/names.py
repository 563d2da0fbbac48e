"""Mailbox names as users see them, and the three namespaces (Product decision 4).

``INBOX`` (any case) and ``INBOX/...`` are personal; ``Other Users/<address>/<path>`` names
another account's folder; ``Public Folders/<path>`` a public one. Validation rejects what would
make a name ambiguous on the wire: empty levels, wildcards, control characters. It also rejects
what a name cannot be as a file name, because folders leave the store as files (``postroom
export`` writes one directory or file per folder, docs/import-export.md): a level that is ``.``
or ``..`` (a path outside the export) and a level longer than ``MAX_LEVEL_BYTES`` in UTF-8 (the
usual file-name limit, NAME_MAX). Every way of making or renaming a folder (IMAP CREATE and
RENAME, the CLI, the admin service, import) goes through ``validate_path``, so the rule holds
for every name made from now on; export still copes with names stored before it existed.
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.core.errors import invalid

DELIMITER = "/"
OTHER_USERS = "Other Users"
PUBLIC = "Public Folders"
MAX_NAME = 1000
MAX_DEPTH = 64
MAX_LEVEL_BYTES = 255  # NAME_MAX of ext4, XFS, btrfs, ZFS and APFS: one level, one file name


@dataclass(frozen=True, slots=True)
class NameRef:
    """Where a user-visible name points: an owner (None = public; '' = the caller) and path."""

    namespace: str  # "personal" | "other" | "public"
    owner_address: str | None
    path: str


def canonical_inbox(path: str) -> str:
    head, sep, rest = path.partition(DELIMITER)
    if head.upper() == "INBOX":
        return "INBOX" + sep + rest
    return path


def validate_path(path: str) -> str:
    """``path`` if it may name a new folder; else ``Kind.INVALID`` with the reason (IMAP
    answers ``NO [CANNOT]``). ``path`` is the decoded name (IMAP's modified UTF-7 already
    undone), so the byte limit counts what a file system would store."""
    if not path:
        raise invalid("empty mailbox name")
    if len(path) > MAX_NAME:
        raise invalid(f"mailbox name longer than {MAX_NAME} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in path) or "*" in path or "%" in path:
        raise invalid("mailbox name contains control or wildcard characters")
    levels = path.split(DELIMITER)
    if any(not level for level in levels):
        raise invalid("mailbox name has an empty level")
    if len(levels) > MAX_DEPTH:
        raise invalid(f"mailbox name nested deeper than {MAX_DEPTH} levels")
    if any(level in (".", "..") for level in levels):
        raise invalid("mailbox name has a level that is '.' or '..'")
    if any(len(level.encode("utf-8", "surrogatepass")) > MAX_LEVEL_BYTES for level in levels):
        raise invalid(f"mailbox name has a level longer than {MAX_LEVEL_BYTES} bytes "
                      "(UTF-8)")
    return path


def parse_name(name: str) -> NameRef:
    """Split a user-visible name into namespace, owner and path (not validated further)."""
    name = name.rstrip(DELIMITER) if name != DELIMITER else name
    head, _, rest = name.partition(DELIMITER)
    if head == OTHER_USERS:
        owner, _, path = rest.partition(DELIMITER)
        return NameRef("other", owner.lower(), canonical_inbox(path))
    if head == PUBLIC:
        return NameRef("public", None, rest)
    return NameRef("personal", "", canonical_inbox(name))


def display_name(namespace: str, owner_address: str | None, path: str) -> str:
    if namespace == "personal":
        return path
    if namespace == "public":
        return f"{PUBLIC}{DELIMITER}{path}"
    return f"{OTHER_USERS}{DELIMITER}{owner_address}{DELIMITER}{path}"


def parent_path(path: str) -> str | None:
    head, sep, _ = path.rpartition(DELIMITER)
    return head if sep else None


def ancestors(path: str) -> list[str]:
    """``a/b/c`` → ``['a', 'a/b']``."""
    levels = path.split(DELIMITER)
    return [DELIMITER.join(levels[:i]) for i in range(1, len(levels))]
