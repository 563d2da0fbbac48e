"""``postroom folder`` and ``postroom acl``: the operator acting on a user's or public folders.

Thin: services/admin/mail.py works in the account's own namespace, so names read exactly as the
user sees them (``INBOX/Projects``); every change still goes through the same services and
access gate as IMAP, and is audited.
"""

from __future__ import annotations

import argparse

from postroom.access import vocab
from postroom.app import Services
from postroom.cli.context import OPERATOR, UsageError, emit, say

_SHAPES: dict[tuple[str, str], list[str]] = {
    ("folder", "list"): [], ("folder", "create"): ["NAME"], ("folder", "rename"): ["OLD", "NEW"],
    ("folder", "delete"): ["NAME"], ("acl", "get"): ["FOLDER"],
    ("acl", "set"): ["FOLDER", "IDENTIFIER", "RIGHTS"], ("acl", "delete"): ["FOLDER", "IDENTIFIER"],
}


def positionals(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """Split ``(ADDRESS | --public) ARGS...`` into (address or None, the rest), checked."""
    words: list[str] = list(args.words)
    address: str | None = None
    if not args.public:
        if not words:
            raise UsageError("say whose folders: ADDRESS or --public")
        address = words.pop(0)
    wanted = _SHAPES[(args.command, args.action)]
    if len(words) != len(wanted):
        who = "--public" if args.public else "ADDRESS"
        raise UsageError(f"{args.command} {args.action} takes {who} "
                         f"{' '.join(wanted)}".rstrip() + f" (got {len(words)} after it)")
    return address, words


async def folder_cmd(s: Services, args: argparse.Namespace) -> int:
    address, words = positionals(args)
    folders = s.admin.folders
    if args.action == "list":
        rows = [{"folder": b.name, "type": b.kind, "special_use": b.special_use or None,
                 "messages": b.message_count, "size": b.total_size,
                 "address": b.address, "uidvalidity": b.uidvalidity}
                for b in await folders.list(OPERATOR, address)]
        emit(args, rows, ["folder", "type", "special_use", "messages", "size", "address"])
        return 0
    folder = words[0]
    if args.action == "create":
        if args.folder_address and not args.public:
            raise UsageError("--folder-address is for public folders (--public)")
        rec = await folders.create(OPERATOR, address, folder, kind=args.type,
                                   folder_address=args.folder_address)
        say(f"folder {folder} created (type {rec.kind}"
            f"{', address ' + rec.address if rec.address else ''})")
    elif args.action == "rename":
        await folders.rename(OPERATOR, address, folder, words[1])
        say(f"folder {folder} renamed to {words[1]}")
    elif args.action == "delete":
        await folders.delete(OPERATOR, address, folder)
        say(f"folder {folder} deleted")
    return 0


async def acl_cmd(s: Services, args: argparse.Namespace) -> int:
    address, words = positionals(args)
    folders = s.admin.folders
    folder = words[0]
    if args.action == "set":
        ident, stored = await folders.set_acl(OPERATOR, address, folder, words[1], words[2])
        say(f"{ident} on {folder}: {vocab.imap_stored(stored) or '(removed)'}")
    elif args.action == "delete":
        await folders.delete_acl(OPERATOR, address, folder, words[1])
        say(f"entry {words[1]} removed from {folder}")
    if args.apply_to_subfolders:
        count = await folders.apply_to_subfolders(OPERATOR, address, folder)
        say(f"ACL of {folder} copied onto {count} subfolders")
    if args.action == "get":
        entries = await folders.acl(OPERATOR, address, folder)
        emit(args, [{"identifier": e.identifier, "rights": vocab.imap_stored(e.rights)}
                    for e in entries], ["identifier", "rights"], title=f"ACL of {folder}")
    return 0
