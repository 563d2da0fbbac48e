"""Entry point: ``postroom <command> …``.

Errors a user can act on print one line, ``error: …``, and exit non-zero (1 for a refused
operation, 2 for bad usage or configuration); a Python traceback never reaches the terminal
(unexpected failures print their type and message, and ``POSTROOM_DEBUG=1`` shows the rest).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from postroom import __version__
from postroom.app import StartupError
from postroom.cli import directory_cmds as dc
from postroom.cli import folder_cmds as fc
from postroom.cli import service_cmds as sc
from postroom.cli import transfer as tc
from postroom.cli.acme_cmds import add_acme_parser
from postroom.cli.audit_cmds import add_audit_parser
from postroom.cli.cluster_cmds import add_cluster_parser
from postroom.cli.context import (
    UsageError,
    add_common,
    add_password_options,
    open_services,
    run_async,
)
from postroom.cli.device_cmds import add_device_parser
from postroom.cli.multipop_cmds import add_multipop_parser
from postroom.cli.odmr_cmds import add_odmr_parsers
from postroom.cli.pim_cmds import add_pim_parsers
from postroom.cli.queue_cmds import add_queue_parser
from postroom.cli.screening_cmds import add_screening_parser
from postroom.cli.serve import reload_cmd, serve_cmd
from postroom.cli.sieve_cmds import add_sieve_parser
from postroom.cli.signing_cmds import add_signing_parsers
from postroom.cli.status_cmds import add_status_parser
from postroom.cli.token_cmds import add_token_parser
from postroom.config import ConfigError
from postroom.core import private

Handler = Callable[[Any, argparse.Namespace], Awaitable[int]]


def _with_services(handler: Handler) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        async def go() -> int:
            services = open_services(args)
            try:
                return await handler(services, args)
            finally:
                await services.close()
        return run_async(go())
    return run


def _config_cmd(args: argparse.Namespace) -> int:
    from postroom import config as config_mod
    if args.action == "example":
        print(config_mod.example())
        return 0
    cfg = config_mod.load(args.file)
    config_mod.check_environment(cfg, args.file)  # exactly what serve checks before it starts
    print(f"{args.file}: OK")
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="postroom", description="Postroom: an all-in-one mail server (SMTP, "
                "IMAP, POP3, ODMR, Minger) on one store and one permission model.",
                epilog="Run 'postroom COMMAND --help' for a command's options.")
    p.add_argument("--version", action="version", version=f"postroom {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def cmd(name: str, help_text: str, **kw: Any) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text, description=help_text, **kw)
        return parser

    def actions(parser: argparse.ArgumentParser) -> Any:
        return parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                     parser_class=_Parser)

    def leaf(group: Any, name: str, help_text: str, json_flag: bool = False,
             aliases: tuple[str, ...] = ()) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = group.add_parser(name, help=help_text,
                                                           description=help_text,
                                                           aliases=list(aliases))
        add_common(parser)
        if json_flag:
            parser.add_argument("--json", action="store_true", help="print JSON")
        return parser

    # serve
    s = cmd("serve", "Start the server (first run: creates the data directory, a TLS "
            "certificate, the primary domain and a postmaster administrator).")
    add_common(s)
    s.add_argument("--domain", help="primary mail domain on first run (default: host name)")
    s.add_argument("--port-offset", type=int, metavar="N",
                   help="add N to every port (e.g. 10000: IMAP on 10143)")
    s.set_defaults(func=serve_cmd)
    r = cmd("reload", "Make the running server read its configuration and TLS certificate "
            "again (as SIGHUP does), without dropping connections. Changes to listeners, the "
            "data directory or the store wait for a restart; the server's log names them.")
    add_common(r)
    r.set_defaults(func=reload_cmd)
    sv = actions(cmd("service", "Run Postroom under systemd: print the unit, or install it "
                     "with its user and a configuration file."))
    sc.configure(sv.add_parser("unit", help="print the systemd unit"))
    si = sv.add_parser("install", help="write the unit, create the user and a configuration "
                       "file when missing (as root); prints how to start it")
    sc.configure(si)
    si.add_argument("--unit-dir", default="/etc/systemd/system",
                    help="where the unit goes (default: /etc/systemd/system)")

    # config
    c = actions(cmd("config", "Check a config file or print a commented example."))
    ck = c.add_parser("check", help="validate FILE; errors name the key")
    ck.add_argument("file")
    c.add_parser("example", help="print every key with its default and meaning")
    for parser in (ck, c.choices["example"]):
        parser.set_defaults(func=_config_cmd)

    add_status_parser(cmd, add_common)
    add_queue_parser(cmd, leaf, actions, _with_services)
    add_multipop_parser(cmd, leaf, actions, _with_services)
    add_odmr_parsers(cmd, leaf, actions, _with_services)
    add_audit_parser(cmd, leaf, actions, _with_services)
    add_screening_parser(cmd, leaf, actions, _with_services)
    add_signing_parsers(cmd, leaf, actions, _with_services)
    add_acme_parser(cmd, leaf, actions)
    add_token_parser(cmd, leaf, actions, _with_services)
    add_pim_parsers(cmd, leaf, actions, _with_services)
    add_device_parser(cmd, leaf, actions, _with_services)
    add_sieve_parser(cmd, leaf, actions, _with_services)
    add_cluster_parser(cmd, leaf, actions, _with_services)

    # domain
    d = actions(cmd("domain", "Manage mail domains."))
    for name, text in (("add", "add a domain"), ("show", "show a domain"),
                       ("remove", "remove an empty domain")):
        leaf(d, name, text, json_flag=name == "show").add_argument("domain")
    leaf(d, "list", "list domains", json_flag=True)
    for parser in d.choices.values():
        parser.set_defaults(func=_with_services(dc.domain_cmd))

    # user
    u = actions(cmd("user", "Manage accounts."))
    add = leaf(u, "add", "add an account (creates INBOX, Drafts, Sent, Trash, Junk, Archive)")
    add.add_argument("address")
    apop = leaf(u, "challenge-secret", "set or clear the account's secret for the "
                "challenge-response logins that need one: POP3 APOP (RFC 1939 §7; needs "
                "pop3.apop = true) and CRAM-MD5 on the ODMR port (RFC 2195, what fetchmail "
                "uses for ATRN). Stored encrypted; keep it different from the password.",
                aliases=("apop-secret",))
    apop.add_argument("address")
    apop.add_argument("--clear", action="store_true", help="remove the secret")
    for parser in (add, leaf(u, "passwd", "change a password"), apop):
        add_password_options(parser)
    u.choices["passwd"].add_argument("address")
    add.add_argument("--name", help="display name")
    add.add_argument("--quota", metavar="SIZE", help="e.g. 500M, 2G (default: unlimited)")
    leaf(u, "list", "list accounts", json_flag=True).add_argument("--domain")
    leaf(u, "show", "show one account", json_flag=True).add_argument("address")
    st = leaf(u, "set", "change name, quota or state")
    st.add_argument("address")
    st.add_argument("--name")
    st.add_argument("--quota", metavar="SIZE", help="e.g. 1G, or 'unlimited'")
    st.add_argument("--state", choices=("active", "disabled", "frozen"),
                    help="active; disabled (no logins, mail refused with 550 5.2.1); frozen "
                         "(no logins, mail deferred with 450 4.2.1 until it is active again)")
    st.add_argument("--spam-filter", choices=("on", "off"),
                    help="score this account's mail with spamd (on, the default) or not "
                         "(off: no X-Spam headers, never filed into Junk nor refused as spam)")
    for name, text in (("disable", "refuse logins, and mail to it with 550 5.2.1 (a group it "
                        "belongs to still delivers to the others)"),
                       ("enable", "undo disable or freeze")):
        leaf(u, name, text).add_argument("address")
    leaf(u, "2fa-reset", "turn off the account's two-factor authentication (TOTP and "
         "recovery codes) and end its web sessions, for a user who lost the device; it "
         "enrols again at the next login where policy requires it").add_argument("address")
    leaf(u, "logout-everywhere", "end every web session of the account (WebAdmin and "
         "webmail; a running server notices within web.session_cache_seconds)"
         ).add_argument("address")
    rm = leaf(u, "remove", "delete the account with all its folders and mail (asks for "
              "--yes, and says how much would go)")
    rm.add_argument("address")
    rm.add_argument("--yes", action="store_true",
                    help="confirm: delete the account and everything it owns")
    sa = leaf(u, "send-as", "list, grant or revoke addresses an account may send as "
              "(MAIL FROM and From:) besides its own and its aliases", json_flag=True)
    sa.add_argument("address")
    sa.add_argument("--add", action="append", default=[], metavar="ADDRESS",
                    help="grant ADDRESS, or @domain for any address of a domain (repeatable)")
    sa.add_argument("--remove", action="append", default=[], metavar="ADDRESS",
                    help="revoke a grant (repeatable)")
    imp = leaf(u, "import", "create accounts from CSV: address,password[,name,quota]",
               json_flag=True)
    imp.add_argument("file")
    imp.add_argument("--batch", type=int, default=500, help="accounts per transaction")
    for parser in u.choices.values():
        parser.set_defaults(func=_with_services(dc.user_cmd))

    # alias
    a = actions(cmd("alias", "Manage aliases (use @domain for a catch-all)."))
    aa = leaf(a, "add", "add ALIAS delivering to TARGET...")
    aa.add_argument("alias", help="user@domain, or @domain for the catch-all")
    aa.add_argument("targets", nargs="+", metavar="TARGET")
    leaf(a, "list", "list aliases", json_flag=True).add_argument("--domain")
    leaf(a, "remove", "remove an alias").add_argument("alias")
    for parser in a.choices.values():
        parser.set_defaults(func=_with_services(dc.alias_cmd))

    # group
    g = actions(cmd("group", "Manage groups (distribution addresses and ACL identifiers "
                             "$group@domain)."))
    ga = leaf(g, "add", "add a group")
    ga.add_argument("group")
    ga.add_argument("--member", action="append", default=[], metavar="ADDRESS")
    ga.add_argument("--name", help="display name")
    gm = leaf(g, "member", "add or remove a member")
    gm.add_argument("op", choices=("add", "remove"))
    gm.add_argument("group")
    gm.add_argument("address")
    leaf(g, "list", "list groups", json_flag=True).add_argument("--domain")
    leaf(g, "show", "show a group and its members", json_flag=True).add_argument("group")
    leaf(g, "remove", "remove a group").add_argument("group")
    for parser in g.choices.values():
        parser.set_defaults(func=_with_services(dc.group_cmd))

    # admin
    ad = actions(cmd("admin", "Grant or revoke administrator roles."))
    for name in ("grant", "revoke"):
        parser = leaf(ad, name, f"{name} a role")
        parser.add_argument("address")
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument("--global", dest="global_", action="store_true",
                           help="global administrator")
        scope.add_argument("--domain", help="administrator of this domain")
    leaf(ad, "list", "list administrators", json_flag=True)
    for parser in ad.choices.values():
        parser.set_defaults(func=_with_services(dc.admin_cmd))

    # folder
    f = actions(cmd("folder", "Manage a user's folders, or public folders (--public)."))
    for name, text, usage in (
            ("list", "list folders", "(ADDRESS | --public)"),
            ("create", "create a folder", "(ADDRESS | --public) NAME"),
            ("rename", "rename a folder (subfolders move along)",
             "(ADDRESS | --public) OLD NEW"),
            ("delete", "delete a folder and its messages", "(ADDRESS | --public) NAME")):
        parser = leaf(f, name, text, json_flag=name == "list")
        parser.usage = f"postroom folder {name} {usage} [options]"
        parser.add_argument("words", nargs="*", metavar="ARG",
                            help="the account (omit with --public), then the folder name(s), "
                                 "e.g. Projects/2026")
        parser.add_argument("--public", action="store_true", help="public folders")
        if name == "create":
            parser.add_argument("--type", default="mail",
                                choices=("mail", "calendar", "contacts", "tasks", "notes",
                                         "journal", "documents"))
            parser.add_argument("--folder-address", metavar="ADDRESS",
                                help="public folders: an address that delivers into it")
        parser.set_defaults(func=_with_services(fc.folder_cmd))

    # acl
    acl = actions(cmd("acl", "Read and change folder ACLs (RFC 4314 rights lrswipkxtea)."))
    for name, text, usage in (
            ("get", "show a folder's ACL", "(ADDRESS | --public) FOLDER"),
            ("set", "set IDENTIFIER's rights (+r adds, -r removes, lr replaces)",
             "(ADDRESS | --public) FOLDER IDENTIFIER RIGHTS"),
            ("delete", "remove an entry", "(ADDRESS | --public) FOLDER IDENTIFIER")):
        parser = leaf(acl, name, text, json_flag=name == "get")
        parser.usage = f"postroom acl {name} {usage} [--apply-to-subfolders] [options]"
        parser.add_argument("words", nargs="*", metavar="ARG",
                            help="the account (omit with --public), the folder, then for set/"
                                 "delete the identifier (user@domain, $group@domain, anyone, "
                                 "authenticated; -id for a negative entry) and the rights")
        parser.add_argument("--public", action="store_true", help="a public folder")
        parser.add_argument("--apply-to-subfolders", action="store_true",
                            help="then copy this folder's whole ACL onto every subfolder")
        parser.set_defaults(func=_with_services(fc.acl_cmd))

    # import / export
    im = actions(cmd("import", "Import mail from an mbox file or a Maildir."))
    for fmt in ("mbox", "maildir"):
        parser = leaf(im, fmt, f"import a {fmt}", json_flag=True)
        parser.add_argument("address")
        parser.add_argument("path")
        parser.add_argument("--folder", help="target folder (default INBOX); created when its "
                            "first message is stored, so a failed import creates nothing")
        parser.epilog = ("Messages the folder already holds (same Message-ID and size, or the "
                         "same content when there is no Message-ID) are skipped and counted, "
                         "so an import can be run again after a failure.")
        parser.set_defaults(func=_with_services(tc.import_cmd), format=fmt)
    ex = cmd("export", "Export an account's mail as mbox files or a Maildir.")
    add_common(ex)
    ex.add_argument("address")
    ex.add_argument("path")
    ex.add_argument("--format", choices=("mbox", "maildir"), default="mbox")
    ex.add_argument("--folder", help="only this folder (mbox: PATH is then one file)")
    ex.add_argument("--json", action="store_true",
                    help="print the count and the renamed folders as JSON")
    ex.epilog = ("A folder whose stored name is no safe file name ('.', '..', a level over "
                 "255 bytes, a clash) is written under a renamed entry, which is printed.")
    ex.set_defaults(func=_with_services(tc.export_cmd))
    return p


def main(argv: list[str] | None = None) -> int:
    os.umask(private.UMASK)  # everything a command creates (data, exports) is the user's alone
    parser = build_parser()
    args = parser.parse_args(argv)
    from postroom.core.errors import MailError
    try:
        return int(args.func(args))
    except MailError as exc:
        print(f"error: {exc.text}", file=sys.stderr)
        return 1
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"error: {exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}",
              file=sys.stderr)
        return 1
    except Exception as exc:
        if os.environ.get("POSTROOM_DEBUG"):
            traceback.print_exc()
        name = type(exc).__name__
        print(f"error: {_describe(exc) or name + ': ' + str(exc)}", file=sys.stderr)
        return 1


def _describe(exc: Exception) -> str | None:
    """Known third-party failures in words an administrator can act on."""
    module = type(exc).__module__
    if module.startswith("psycopg"):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL: {first}"
    if module.startswith("sqlite3") or type(exc).__name__ in ("OperationalError",
                                                               "DatabaseError"):
        return f"database: {exc}"
    return None


if __name__ == "__main__":
    raise SystemExit(main())
