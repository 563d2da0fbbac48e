"""``postroom domain|user|alias|group|admin``: the directory from the command line."""

from __future__ import annotations

import argparse
import asyncio
import csv
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from postroom.app import Services
from postroom.cli.context import UsageError, emit, emit_one, read_password, say
from postroom.core.address import Address, display_domain, normalize_domain
from postroom.core.errors import MailError, invalid, not_found
from postroom.core.records import AccountRec
from postroom.directory import passwords
from postroom.directory.quota import format_size, parse_size
from postroom.directory.service import parse_alias_address


def _account_row(rec: AccountRec) -> dict[str, Any]:
    return {"address": rec.address, "name": rec.display_name, "state": rec.state,
            "quota": format_size(rec.quota_bytes), "used": format_size(rec.used_bytes),
            "created": time.strftime("%Y-%m-%d %H:%M", time.gmtime(rec.created_at)),
            "last_login": (time.strftime("%Y-%m-%d %H:%M", time.gmtime(rec.last_login))
                           if rec.last_login else None)}


# -- domain ----------------------------------------------------------------------------------
async def domain_cmd(s: Services, args: argparse.Namespace) -> int:
    d = s.store.directory
    if args.action == "add":
        if await s.gateways.find(normalize_domain(args.domain)) is not None:
            raise UsageError(f"{args.domain} is a gateway domain (postroom gateway show); "
                             "remove the gateway first to host the domain here")
        name = await s.directory.add_domain(args.domain)
        say(f"domain {name} added")
    elif args.action == "list":
        rows = []
        for rec in await d.list_domains():
            usage = await d.domain_usage(rec.id)
            rows.append({"domain": rec.name, "display": display_domain(rec.name),
                         "accounts": usage["accounts"], "aliases": usage["aliases"],
                         "groups": usage["mail_groups"]})
        emit(args, rows, ["domain", "display", "accounts", "aliases", "groups"])
    else:
        name = normalize_domain(args.domain)
        found = await d.get_domain(name)
        if found is None:
            raise not_found(f"unknown domain {name}")
        if args.action == "show":
            usage = await d.domain_usage(found.id)
            admins = [a for a, scope in await d.list_admins() if scope == name]
            emit_one(args, {"domain": found.name, "display": display_domain(found.name),
                            "accounts": usage["accounts"], "aliases": usage["aliases"],
                            "groups": usage["mail_groups"], "admins": admins})
        else:
            await d.remove_domain(name)
            say(f"domain {name} removed")
    return 0


# -- user ------------------------------------------------------------------------------------
def _send_as_form(text: str) -> str:
    """``user@domain`` or ``@domain``, normalised as addresses are."""
    if text.startswith("@"):
        return "@" + normalize_domain(text[1:])
    return str(Address.parse(text))


async def user_cmd(s: Services, args: argparse.Namespace) -> int:
    d = s.store.directory
    action = args.action
    if action == "add":
        password = read_password(args)
        assert password is not None
        quota = parse_size(args.quota) if args.quota else None
        rec = await s.directory.add_account(args.address, password, display_name=args.name or "",
                                            quota_bytes=quota)
        await s.mailboxes.ensure_defaults(rec.id, rec.domain_id)
        say(f"account {rec.address} added")
    elif action == "list":
        domain = normalize_domain(args.domain) if args.domain else None
        emit(args, [_account_row(r) for r in await d.list_accounts(domain)],
             ["address", "name", "state", "quota", "used"])
    elif action == "import":
        return await import_users(s, args)
    else:
        address = str(Address.parse(args.address))
        rec = await s.directory.require_account(address)
        if action == "show":
            row = _account_row(rec)
            is_global, domains = await d.admin_scopes(rec.id)
            row["admin"] = "global" if is_global else ", ".join(n for _, n in domains) or None
            row["groups"] = sorted(await s.directory.groups_of(address))
            emit_one(args, row)
        elif action in ("challenge-secret", "apop-secret"):
            if args.clear:
                await s.directory.set_apop_secret(address, None)
                say(f"{address}: challenge secret removed")
            else:
                secret = read_password(args)
                if not secret:
                    raise UsageError("give the secret with --password or --password-stdin, "
                                     "or --clear")
                await s.directory.set_apop_secret(address, secret)
                note = "" if s.cfg.pop3.apop else " (POP3 APOP is off: pop3.apop = false)"
                say(f"{address}: challenge secret set for APOP and CRAM-MD5{note}")
        elif action == "send-as":
            for target in args.add:
                grant = _send_as_form(target)
                changed = await d.set_send_as(rec.id, grant, True)
                say(f"{address} may send as {grant}" if changed
                    else f"{address} could already send as {grant}")
            for target in args.remove:
                grant = _send_as_form(target)
                if not await d.set_send_as(rec.id, grant, False):
                    raise UsageError(f"{address} had no send-as grant for {grant}")
                say(f"{address} may no longer send as {grant}")
            if not args.add and not args.remove:
                grants = await d.send_as(rec.id)
                if args.json:
                    emit_one(args, {"address": address, "send_as": grants})
                else:
                    say("\n".join(grants) if grants else f"{address}: no send-as grants")
        elif action == "set":
            fields: dict[str, Any] = {}
            if args.name is not None:
                fields["display_name"] = args.name
            if args.quota is not None:
                fields["quota_bytes"] = parse_size(args.quota)
            if args.state is not None:
                await s.directory.set_state(address, args.state)
            if fields:
                await d.update_account(address, **fields)
            if not fields and args.state is None:
                raise UsageError("nothing to change: give --name, --quota or --state")
            say(f"account {address} updated")
        elif action == "passwd":
            password = read_password(args)
            assert password is not None
            await s.directory.set_password(address, password)
            say(f"password of {address} changed")
        elif action in ("disable", "enable"):
            await s.directory.set_state(address, "disabled" if action == "disable" else "active")
            say(f"account {address} {action}d")
        elif action == "remove":
            await d.remove_account(address)
            say(f"account {address} removed with all its folders and messages")
    return 0


async def import_users(s: Services, args: argparse.Namespace) -> int:
    """CSV ``address,password[,name,quota]``: validate all, hash in parallel, insert per batch."""
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise invalid(f"{path}: {exc.strerror}") from None
    items: list[tuple[str, str, str, int | None]] = []
    seen: set[str] = set()
    for lineno, row in enumerate(csv.reader(text.splitlines()), 1):
        if not row or (lineno == 1 and row[0].strip().lower() == "address"):
            continue
        if len(row) < 2:
            raise invalid(f"{path}:{lineno}: expected address,password[,name,quota]")
        try:
            address = str(Address.parse(row[0]))
            passwords.check_password_text(row[1])
            quota = parse_size(row[3]) if len(row) > 3 and row[3].strip() else None
        except MailError as exc:
            raise invalid(f"{path}:{lineno}: {exc.text}") from None
        if address in seen:
            raise invalid(f"{path}:{lineno}: {address} appears twice")
        seen.add(address)
        items.append((address, row[1], row[2].strip() if len(row) > 2 else "", quota))
    for address, *_ in items:
        if not await s.directory.is_local_domain(address.rsplit("@", 1)[1]):
            raise not_found(f"unknown domain in {address} (add it with: postroom domain add "
                            f"{address.rsplit('@', 1)[1]})")
    batch = max(1, args.batch)
    created = 0
    with Progress(TextColumn("importing accounts"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), disable=args.json) as progress:
        task = progress.add_task("", total=len(items))
        for start in range(0, len(items), batch):
            chunk = items[start:start + batch]
            creds = await asyncio.gather(*(s.directory.credentials(pw) for _, pw, _, _ in chunk))
            rows = [{"address": address, "display_name": name, "quota_bytes": quota, **cred}
                    for (address, _, name, quota), cred in zip(chunk, creds, strict=True)]
            recs = await s.store.directory.add_accounts(rows)
            await s.mailboxes.ensure_defaults_many([(r.id, r.domain_id) for r in recs])
            created += len(recs)
            progress.update(task, advance=len(chunk))
    say(f"{created} accounts imported from {path}")
    return 0


# -- alias -----------------------------------------------------------------------------------
async def alias_cmd(s: Services, args: argparse.Namespace) -> int:
    d = s.store.directory
    if args.action == "add":
        rec = await s.directory.add_alias(args.alias, args.targets)
        say(f"alias {rec.address} → {', '.join(rec.targets)} added")
    elif args.action == "list":
        domain = normalize_domain(args.domain) if args.domain else None
        emit(args, [{"alias": r.address, "targets": ", ".join(r.targets)}
                    for r in await d.list_aliases(domain)], ["alias", "targets"])
    else:
        address = parse_alias_address(args.alias)
        await d.remove_alias(address)
        say(f"alias {address} removed")
    return 0


# -- group -----------------------------------------------------------------------------------
async def group_cmd(s: Services, args: argparse.Namespace) -> int:
    d = s.store.directory
    if args.action == "add":
        rec = await s.directory.add_group(args.group, args.member, args.name or "")
        say(f"group {rec.address} added with {len(rec.members)} members "
            f"(ACL identifier: ${rec.address})")
    elif args.action == "list":
        domain = normalize_domain(args.domain) if args.domain else None
        emit(args, [{"group": r.address, "name": r.display_name, "members": len(r.members)}
                    for r in await d.list_groups(domain)], ["group", "name", "members"])
    elif args.action == "member":
        group = str(Address.parse(args.group))
        member = str(Address.parse(args.address))
        if member == group:
            raise invalid(f"group {group} cannot contain itself")
        await d.set_group_member(group, member, args.op == "add")
        say(f"{member} {'added to' if args.op == 'add' else 'removed from'} {group}")
    else:
        group = str(Address.parse(args.group))
        if args.action == "show":
            shown = await d.get_group(group)
            if shown is None:
                raise not_found(f"no group {group}")
            emit_one(args, {**asdict(shown), "acl_identifier": "$" + shown.address})
        else:
            await d.remove_group(group)
            say(f"group {group} removed")
    return 0


# -- admin -----------------------------------------------------------------------------------
async def admin_cmd(s: Services, args: argparse.Namespace) -> int:
    d = s.store.directory
    if args.action == "list":
        emit(args, [{"address": a, "scope": "global" if scope == "*" else scope}
                    for a, scope in await d.list_admins()], ["address", "scope"])
        return 0
    if not args.global_ and not args.domain:
        raise UsageError("say which role: --global or --domain DOMAIN")
    address = str(Address.parse(args.address))
    domain = None if args.global_ else normalize_domain(args.domain)
    await d.set_admin(address, domain, args.action == "grant")
    what = "global administrator" if domain is None else f"administrator of {domain}"
    say(f"{address} {'is now' if args.action == 'grant' else 'is no longer'} {what}")
    return 0
