"""``postroom folder`` and ``postroom acl``: the operator acting on a user's or public folders.

The operator's principal is a system principal (all rights) placed in the account's own
namespace, so names read exactly as the user sees them (``INBOX/Projects``); every change
still goes through the same services and access gate as IMAP.
"""

from __future__ import annotations

import argparse

from postroom.app import Services
from postroom.cli.context import UsageError, emit, say
from postroom.core.address import Address
from postroom.core.principal import Principal
from postroom.core.rights import Rights
from postroom.directory.quota import format_size
from postroom.services import names

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


async def acting_as(s: Services, args: argparse.Namespace) -> tuple[Principal, str, list[str]]:
    """(principal, name prefix, remaining words) for ``ADDRESS`` or ``--public``."""
    address, words = positionals(args)
    if address is None:
        return Principal.operator(), names.PUBLIC + names.DELIMITER, words
    rec = await s.directory.require_account(str(Address.parse(address)))
    return Principal.operator_as(rec.id, rec.address, rec.domain_id), "", words


async def folder_cmd(s: Services, args: argparse.Namespace) -> int:
    principal, prefix, words = await acting_as(s, args)
    if args.action == "list":
        if args.public:
            boxes = await s.store.mailboxes.list_owned(None)
        else:
            assert principal.account_id is not None
            boxes = await s.store.mailboxes.list_owned(principal.account_id)
        rows = [{"folder": b.name, "type": b.kind, "special_use": b.special_use or None,
                 "messages": b.message_count, "size": format_size(b.total_size),
                 "address": b.address, "uidvalidity": b.uidvalidity} for b in boxes]
        emit(args, rows, ["folder", "type", "special_use", "messages", "size", "address"])
        return 0
    folder = words[0]
    name = prefix + folder
    if args.action == "create":
        address = str(Address.parse(args.folder_address)) if args.folder_address else None
        if address and not args.public:
            raise UsageError("--folder-address is for public folders (--public)")
        rec = await s.mailboxes.create(principal, name, kind=args.type, address=address)
        say(f"folder {folder} created (type {rec.kind}"
            f"{', address ' + address if address else ''})")
    elif args.action == "rename":
        await s.mailboxes.rename(principal, name, prefix + words[1])
        say(f"folder {folder} renamed to {words[1]}")
    elif args.action == "delete":
        await s.mailboxes.delete(principal, name)
        say(f"folder {folder} deleted")
    return 0


async def acl_cmd(s: Services, args: argparse.Namespace) -> int:
    principal, prefix, words = await acting_as(s, args)
    folder = words[0]
    name = prefix + folder
    if args.action == "set":
        new = await s.acl.set(principal, name, words[1], words[2])
        ident = await s.acl.canonical_identifier(principal, words[1])
        say(f"{ident} on {folder}: {new.display() or '(removed)'}")
    elif args.action == "delete":
        await s.acl.delete(principal, name, words[1])
        say(f"entry {words[1]} removed from {folder}")
    if args.apply_to_subfolders:
        count = await s.acl.apply_to_subfolders(principal, name)
        say(f"ACL of {folder} copied onto {count} subfolders")
    if args.action == "get":
        entries = await s.acl.get(principal, name)
        emit(args, [{"identifier": e.identifier,
                     "rights": Rights.parse(e.rights).display()} for e in entries],
             ["identifier", "rights"], title=f"ACL of {folder}")
    return 0
