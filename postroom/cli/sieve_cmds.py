"""``postroom sieve …``: users' Sieve scripts and the administrators' scripts (docs/sieve.md).

A thin face over services/sieve/scripts.py, acting as the operator: the same checks as
ManageSieve and the API (names, size, the number of scripts, the script compiled against the
enabled extensions), the same errors. A script that does not compile is refused with its line
and column, and the offending line is shown with a caret under the column.

Exit status: 0 done (warnings, if any, on standard error); 1 refused (a bad script, a name
that exists, a quota) or not found; 2 a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from postroom.app import Services
from postroom.cli.context import OPERATOR, UsageError, emit, say, when
from postroom.services.sieve.scripts import SieveScripts
from postroom.sieve.errors import SieveSyntaxError

ACTOR = OPERATOR.principal
ORIGIN = OPERATOR.origin  # audit records name this terminal
PHASES = ("before", "after")


def _scripts(s: Services) -> SieveScripts:
    return s.sieve_scripts


def read_source(path: str) -> bytes:
    """The script from a file, or from standard input for ``-``."""
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def show_error(exc: SieveSyntaxError, source: bytes, label: str) -> None:
    """``error: LABEL: line L, column C: message`` and the line itself with a caret, the way
    compilers point at a mistake; for every error the compiler found, first one first."""
    lines = source.decode("utf-8", "replace").splitlines()
    for err in exc.errors:
        print(f"error: {label}: {err}", file=sys.stderr)
        if 1 <= err.line <= len(lines):
            text = lines[err.line - 1].expandtabs(1)
            number = str(err.line)
            print(f"  {number} | {text}", file=sys.stderr)
            print(f"  {' ' * len(number)} | {' ' * max(err.column - 1, 0)}^", file=sys.stderr)


def _warn(warnings: list[str], label: str) -> None:
    for warning in warnings:
        print(f"warning: {label}: {warning}", file=sys.stderr)


def _label(path: str) -> str:
    return "<stdin>" if path == "-" else path


async def sieve_cmd(s: Services, args: argparse.Namespace) -> int:
    scripts = _scripts(s)
    action = args.action
    if action == "check":
        source = read_source(args.file)
        try:
            _warn(list(await scripts.check(ACTOR, source, args.user)), _label(args.file))
        except SieveSyntaxError as exc:
            show_error(exc, source, _label(args.file))
            return 1
        say(f"{_label(args.file)}: valid")
        return 0
    user = args.user
    if action == "list":
        infos = await scripts.list(ACTOR, user)
        if args.json:  # JSON keeps booleans and Unix times
            rows: list[dict[str, Any]] = [{"name": i.name, "active": i.active,
                                           "size": i.size, "updated": i.updated}
                                          for i in infos]
        else:
            rows = [{"name": i.name, "active": "yes" if i.active else "", "size": i.size,
                     "updated": when(i.updated)} for i in infos]
        emit(args, rows, ["name", "active", "size", "updated"])
        return 0
    if action == "get":
        text = await scripts.get(ACTOR, args.name, user)
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    if action == "put":
        source = read_source(args.file)
        try:
            warnings = await scripts.put(ACTOR, args.name, source, user, origin=ORIGIN)
        except SieveSyntaxError as exc:
            show_error(exc, source, _label(args.file))
            return 1
        _warn(list(warnings), _label(args.file))
        if args.activate:
            await scripts.activate(ACTOR, args.name, user, origin=ORIGIN)
        say(f"{user}: script {args.name!r} stored" + (" and active" if args.activate else ""))
        return 0
    if action == "activate":
        await scripts.activate(ACTOR, args.name, user, origin=ORIGIN)
        say(f"{user}: {args.name!r} is the active script")
        return 0
    if action == "deactivate":
        await scripts.activate(ACTOR, "", user, origin=ORIGIN)
        say(f"{user}: no script is active (mail is delivered to INBOX)")
        return 0
    if action == "delete":
        await scripts.delete(ACTOR, args.name, user, origin=ORIGIN)
        say(f"{user}: script {args.name!r} deleted")
        return 0
    if action == "rename":
        await scripts.rename(ACTOR, args.name, args.new_name, user, origin=ORIGIN)
        say(f"{user}: script {args.name!r} renamed to {args.new_name!r}")
        return 0
    raise UsageError(f"unknown action {action}")


async def sieve_admin_cmd(s: Services, args: argparse.Namespace) -> int:
    scripts = _scripts(s)
    where = f"{args.scope} ({args.phase} the user's script)"
    if args.admin_action == "get":
        text = await scripts.admin_get(ACTOR, args.scope, args.phase)
        if text is None:
            print(f"{where}: no script", file=sys.stderr)
            return 1
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    if args.admin_action == "put":
        source = read_source(args.file)
        try:
            warnings = await scripts.admin_put(ACTOR, args.scope, args.phase, source,
                                                origin=ORIGIN)
        except SieveSyntaxError as exc:
            show_error(exc, source, _label(args.file))
            return 1
        _warn(list(warnings), _label(args.file))
        say(f"{where}: script stored; it runs for every recipient from the next delivery")
        return 0
    await scripts.admin_put(ACTOR, args.scope, args.phase, None, origin=ORIGIN)
    say(f"{where}: script removed")
    return 0


EPILOG = ("Scripts are Sieve (RFC 5228) with the extensions docs/sieve.md lists; a script "
          "that does not compile is refused with its line and column. Users manage their "
          "own scripts with a ManageSieve client (port 4190) or the JSON API.")


def add_sieve_parser(cmd: Any, leaf: Any, actions: Any, with_services: Any) -> None:
    top = cmd("sieve", "Sieve filters: users' scripts (list, get, put, activate, deactivate, "
                       "delete, rename, check) and the administrators' scripts run before and "
                       "after them (admin).", epilog=EPILOG)
    g = actions(top)

    def user_leaf(name: str, text: str, json_flag: bool = False) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = leaf(g, name, text, json_flag=json_flag)
        p.add_argument("--user", required=True, metavar="ADDRESS",
                       help="the account whose scripts these are")
        return p

    user_leaf("list", "list the account's scripts, the active one marked", json_flag=True)
    get = user_leaf("get", "print a script")
    get.add_argument("name", help="the script's name")
    put = user_leaf("put", "store a script (replacing one of the same name) after compiling "
                           "it")
    put.add_argument("name", help="the script's name (UTF-8, no control characters)")
    put.add_argument("file", nargs="?", default="-",
                     help="the script file; '-' or nothing reads standard input")
    put.add_argument("--activate", action="store_true",
                     help="also make it the active script")
    act = user_leaf("activate", "make this script the one that runs at delivery")
    act.add_argument("name", help="the script's name")
    user_leaf("deactivate", "leave no script active (mail goes to INBOX, administrators' "
                            "scripts still run)")
    rm = user_leaf("delete", "delete a script (not the active one: deactivate it first)")
    rm.add_argument("name", help="the script's name")
    mv = user_leaf("rename", "rename a script (the active one stays active)")
    mv.add_argument("name", help="the script's current name")
    mv.add_argument("new_name", metavar="NEW_NAME", help="its new name")
    ck = leaf(g, "check", "compile a script without storing it: errors with line and column, "
                          "then warnings; exit 1 when it does not compile")
    ck.add_argument("file", nargs="?", default="-",
                    help="the script file; '-' or nothing reads standard input")
    ck.add_argument("--user", metavar="ADDRESS",
                    help="warn about this account's folders (a fileinto to a folder it "
                         "does not have); without it only errors are reported")
    for name in ("list", "get", "put", "activate", "deactivate", "delete", "rename", "check"):
        g.choices[name].set_defaults(func=with_services(sieve_cmd))

    adm = g.add_parser("admin", help="the administrators' scripts: one per scope (global or "
                       "a domain) and phase (before or after the user's script)",
                       description="Administrators' scripts run for every recipient of their "
                       "scope, in this order: global before, domain before, the user's active "
                       "script, domain after, global after (docs/sieve.md).")
    a = adm.add_subparsers(dest="admin_action", metavar="ACTION", required=True,
                           parser_class=type(adm))
    for name, text in (("get", "print the script"), ("put", "store the script (compiled "
                       "first)"), ("remove", "remove the script")):
        p = leaf(a, name, text)
        p.add_argument("--scope", required=True, metavar="global|DOMAIN",
                       help="'global' (every recipient) or a local domain")
        p.add_argument("--phase", required=True, choices=PHASES,
                       help="run before or after the user's own script")
        if name == "put":
            p.add_argument("file", nargs="?", default="-",
                           help="the script file; '-' or nothing reads standard input")
        p.set_defaults(func=with_services(sieve_admin_cmd))
