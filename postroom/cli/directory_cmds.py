"""``postroom domain|user|alias|group|admin``: the directory from the command line.

Thin: every command parses its arguments, calls the administration services
(services/admin/directory.py) as the operator, and prints the result.
"""

from __future__ import annotations

import argparse
import csv
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from postroom.app import Services
from postroom.cli.context import OPERATOR, UsageError, emit, emit_one, read_password, say
from postroom.core.address import Address, display_domain
from postroom.core.errors import MailError, invalid, not_found
from postroom.core.records import AccountRec
from postroom.directory import passwords
from postroom.directory.quota import format_size, parse_size
from postroom.services.admin.directory import NewAccount


def _account_row(rec: AccountRec) -> dict[str, Any]:
    return {"address": rec.address, "name": rec.display_name, "state": rec.state,
            "quota": rec.quota_bytes, "used": rec.used_bytes,
            "created": time.strftime("%Y-%m-%d %H:%M", time.gmtime(rec.created_at)),
            "last_login": (time.strftime("%Y-%m-%d %H:%M", time.gmtime(rec.last_login))
                           if rec.last_login else None)}


# -- domain ----------------------------------------------------------------------------------
async def domain_cmd(s: Services, args: argparse.Namespace) -> int:
    domains = s.admin.domains
    if args.action == "add":
        say(f"domain {await domains.add(OPERATOR, args.domain)} added")
    elif args.action == "list":
        emit(args, [{"domain": i.domain.name, "display": display_domain(i.domain.name),
                     "accounts": i.accounts, "aliases": i.aliases, "groups": i.groups}
                    for i in await domains.list(OPERATOR)],
             ["domain", "display", "accounts", "aliases", "groups"])
    elif args.action == "show":
        i = await domains.show(OPERATOR, args.domain)
        emit_one(args, {"domain": i.domain.name, "display": display_domain(i.domain.name),
                        "accounts": i.accounts, "aliases": i.aliases, "groups": i.groups,
                        "admins": list(i.admins)})
    else:
        await domains.remove(OPERATOR, args.domain)
        say(f"domain {args.domain} removed")
    return 0


# -- user ------------------------------------------------------------------------------------
async def user_cmd(s: Services, args: argparse.Namespace) -> int:
    users = s.admin.users
    action = args.action
    if action == "add":
        password = read_password(args)
        assert password is not None
        quota = parse_size(args.quota) if args.quota else None
        rec = await users.add(OPERATOR, NewAccount(args.address, password, args.name or "",
                                                   quota))
        say(f"account {rec.address} added")
    elif action == "list":
        emit(args, [_account_row(r) for r in await users.list(OPERATOR, args.domain)],
             ["address", "name", "state", "quota", "used"])
    elif action == "import":
        return await import_users(s, args)
    else:
        address = str(Address.parse(args.address))
        if action == "show":
            info = await users.show(OPERATOR, address)
            row = _account_row(info.account)
            row["admin"] = info.admin
            row["groups"] = list(info.groups)
            row["spam_filter"] = "on" if await users.spam_filter(OPERATOR, address) else "off"
            row["two_factor"] = "on" if await s.two_factor.enabled(info.account.id) else "off"
            emit_one(args, row)
        elif action in ("challenge-secret", "apop-secret"):
            if args.clear:
                await users.set_challenge_secret(OPERATOR, address, None)
                say(f"{address}: challenge secret removed")
            else:
                secret = read_password(args)
                if not secret:
                    raise UsageError("give the secret with --password or --password-stdin, "
                                     "or --clear")
                await users.set_challenge_secret(OPERATOR, address, secret)
                note = "" if s.cfg.pop3.apop else " (POP3 APOP is off: pop3.apop = false)"
                say(f"{address}: challenge secret set for APOP and CRAM-MD5{note}")
        elif action == "send-as":
            for target in args.add:
                changed = await users.grant_send_as(OPERATOR, address, target, True)
                say(f"{address} may send as {target}" if changed
                    else f"{address} could already send as {target}")
            for target in args.remove:
                if not await users.grant_send_as(OPERATOR, address, target, False):
                    raise UsageError(f"{address} had no send-as grant for {target}")
                say(f"{address} may no longer send as {target}")
            if not args.add and not args.remove:
                grants = await users.send_as(OPERATOR, address)
                if args.json:
                    emit_one(args, {"address": address, "send_as": grants})
                else:
                    say("\n".join(grants) if grants else f"{address}: no send-as grants")
        elif action == "set":
            spam = getattr(args, "spam_filter", None)
            if args.name is None and args.quota is None and args.state is None and \
                    spam is None:
                raise UsageError("nothing to change: give --name, --quota, --state or "
                                 "--spam-filter")
            if spam is not None:
                await users.set_spam_filter(OPERATOR, address, spam == "on")
                say(f"{address}: spam filtering {spam}")
            if args.name is not None or args.quota is not None or args.state is not None:
                await users.update(OPERATOR, address, display_name=args.name,
                                   quota_bytes=parse_size(args.quota)
                                   if args.quota is not None else ..., state=args.state)
                say(f"account {address} updated")
        elif action == "passwd":
            password = read_password(args)
            assert password is not None
            await users.set_password(OPERATOR, address, password)
            say(f"password of {address} changed")
        elif action == "2fa-reset":
            had = await s.admin.logins.reset_two_factor(OPERATOR, address)
            say(f"{address}: two-factor authentication reset, web sessions ended" if had
                else f"{address} had no two-factor authentication; web sessions ended")
        elif action == "logout-everywhere":
            ended = await s.admin.logins.end_sessions(OPERATOR, address)
            say(f"{address}: {ended} web session{'' if ended == 1 else 's'} ended")
        elif action in ("disable", "enable"):
            await users.update(OPERATOR, address,
                               state="disabled" if action == "disable" else "active")
            say(f"account {address} {action}d")
        elif action == "remove":
            folders, messages, octets = await users.holdings(OPERATOR, address)
            what = (f"{folders} folders, {messages} messages, "
                    f"{format_size(octets)}")
            if not args.yes:
                raise UsageError(f"{address} owns {what}; removing the account deletes all "
                                 "of it. Run again with --yes to remove it")
            await users.remove(OPERATOR, address)
            say(f"account {address} removed with its {what}")
    return 0


async def import_users(s: Services, args: argparse.Namespace) -> int:
    """CSV ``address,password[,name,quota]``: validate all, then create per batch."""
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise invalid(f"{path}: {exc.strerror}") from None
    items: list[NewAccount] = []
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
        items.append(NewAccount(address, row[1], row[2].strip() if len(row) > 2 else "", quota))
    for item in items:  # every domain before the first account, so a typo imports nothing
        domain = item.address.rsplit("@", 1)[1]
        if not await s.directory.is_local_domain(domain):
            raise not_found(f"unknown domain in {item.address} (add it with: postroom domain "
                            f"add {domain})")
    batch = max(1, args.batch)
    created = 0
    with Progress(TextColumn("importing accounts"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), disable=args.json) as progress:
        task = progress.add_task("", total=len(items))
        for start in range(0, len(items), batch):
            chunk = items[start:start + batch]
            created += len(await s.admin.users.add_many(OPERATOR, chunk))
            progress.update(task, advance=len(chunk))
    say(f"{created} accounts imported from {path}")
    return 0


# -- alias -----------------------------------------------------------------------------------
async def alias_cmd(s: Services, args: argparse.Namespace) -> int:
    aliases = s.admin.aliases
    if args.action == "add":
        rec = await aliases.add(OPERATOR, args.alias, args.targets)
        say(f"alias {rec.address} → {', '.join(rec.targets)} added")
    elif args.action == "list":
        emit(args, [{"alias": r.address, "targets": ", ".join(r.targets)}
                    for r in await aliases.list(OPERATOR, args.domain)], ["alias", "targets"])
    else:
        await aliases.remove(OPERATOR, args.alias)
        say(f"alias {args.alias} removed")
    return 0


# -- group -----------------------------------------------------------------------------------
async def group_cmd(s: Services, args: argparse.Namespace) -> int:
    groups = s.admin.groups
    if args.action == "add":
        rec = await groups.add(OPERATOR, args.group, args.member, args.name or "")
        say(f"group {rec.address} added with {len(rec.members)} members "
            f"(ACL identifier: ${rec.address})")
    elif args.action == "list":
        emit(args, [{"group": r.address, "name": r.display_name, "members": len(r.members)}
                    for r in await groups.list(OPERATOR, args.domain)],
             ["group", "name", "members"])
    elif args.action == "member":
        await groups.member(OPERATOR, args.group, args.address, args.op == "add")
        say(f"{args.address} {'added to' if args.op == 'add' else 'removed from'} "
            f"{args.group}")
    elif args.action == "show":
        shown = await groups.show(OPERATOR, args.group)
        emit_one(args, {**asdict(shown), "acl_identifier": "$" + shown.address})
    else:
        await groups.remove(OPERATOR, args.group)
        say(f"group {args.group} removed")
    return 0


# -- admin -----------------------------------------------------------------------------------
async def admin_cmd(s: Services, args: argparse.Namespace) -> int:
    roles = s.admin.roles
    if args.action == "list":
        emit(args, [{"address": a, "scope": "global" if scope == "*" else scope}
                    for a, scope in await roles.list(OPERATOR)], ["address", "scope"])
        return 0
    if not args.global_ and not args.domain:
        raise UsageError("say which role: --global or --domain DOMAIN")
    domain = None if args.global_ else args.domain
    await roles.set(OPERATOR, args.address, domain, args.action == "grant")
    what = "global administrator" if domain is None else f"administrator of {domain}"
    say(f"{args.address} {'is now' if args.action == 'grant' else 'is no longer'} {what}")
    return 0
