"""Shared CLI plumbing: resolve the configuration, open the services, print results.

Precedence for every setting: command-line flag > environment (``POSTROOM_HOME``,
``POSTROOM_CONFIG``) > config file > built-in default.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table

from postroom import config as config_mod
from postroom import privileges
from postroom.app import Services, StartupError, build_services
from postroom.config import Config
from postroom.core.actor import Actor
from postroom.directory.quota import format_size

T = TypeVar("T")

# Who every CLI command acts as: the operator at this terminal, with every right; audit records
# name the terminal's user and host.
OPERATOR = Actor.operator()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    result: T = uvloop.run(coro)
    return result


class UsageError(Exception):
    """Bad command-line input (exit status 2)."""


def add_common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("common options")
    group.add_argument("--config", metavar="FILE",
                       help="TOML config file (default: $POSTROOM_CONFIG, else built-in "
                            "defaults)")
    group.add_argument("--data-dir", metavar="DIR",
                       help="data directory (default: $POSTROOM_HOME, else server.data_dir, "
                            "else ./var)")
    group.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                       help="override a config key, e.g. --set store.backend=postgresql "
                            "(repeatable)")


def load_config(args: argparse.Namespace) -> Config:
    path = args.config or os.environ.get("POSTROOM_CONFIG") or None
    cfg = config_mod.load(path, args.set)
    if args.data_dir:
        cfg.server.data_dir = args.data_dir
    elif os.environ.get("POSTROOM_HOME"):
        cfg.server.data_dir = os.environ["POSTROOM_HOME"]
    if getattr(args, "port_offset", None) is not None:
        cfg.server.port_offset = args.port_offset
    if getattr(args, "domain", None):
        cfg.server.domain = args.domain
    return cfg


def open_services(args: argparse.Namespace) -> Services:
    """The services on the configured store; run as root with ``server.user`` set, the
    command first becomes that user, so what it writes stays readable by the server."""
    cfg = load_config(args)
    try:
        privileges.become(cfg.server.user, cfg.data_path)
    except privileges.PrivilegeError as exc:
        raise StartupError(str(exc)) from None
    return build_services(cfg)


_console = Console(highlight=False, soft_wrap=True)


# Columns that hold octets: numbers in JSON, "3.3K" for people.
SIZES = frozenset({"size", "quota", "used", "queued_octets"})


def _shown(key: str, value: Any) -> str:
    if key in SIZES and (value is None or isinstance(value, int)):
        return format_size(value)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def emit(args: argparse.Namespace, rows: Sequence[dict[str, Any]], columns: Sequence[str],
         title: str | None = None) -> None:
    """Print ``rows`` as JSON (``--json``: numbers stay numbers) or as a table with
    ``columns`` (sizes in human units)."""
    if getattr(args, "json", False):
        print(json.dumps(list(rows), indent=2, default=str))
        return
    if not rows:
        print("(none)")
        return
    table = Table(title=title, show_edge=False, header_style="bold")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(_shown(c, row.get(c)) for c in columns))
    _console.print(table)


def emit_one(args: argparse.Namespace, row: dict[str, Any]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(row, indent=2, default=str))
        return
    width = max(len(k) for k in row)
    for key, value in row.items():
        print(f"{key.ljust(width)}  {_shown(key, value)}")


def say(text: str) -> None:
    print(text)


def add_password_options(parser: argparse.ArgumentParser, what: str = "the password",
                         required: bool = False, stored: bool = False) -> None:
    """``--password PW`` | ``--password-stdin``, read back by ``read_password``."""
    note = "; stored encrypted with the data directory's secret.key" if stored else ""
    pw = parser.add_mutually_exclusive_group(required=required)
    pw.add_argument("--password", metavar="PW",
                    help=f"{what} (visible in ps; prefer --password-stdin){note}")
    pw.add_argument("--password-stdin", action="store_true",
                    help=f"read {what} from the first line of standard input")


def read_password(args: argparse.Namespace, required: bool = True) -> str | None:
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    pw: str | None = getattr(args, "password", None)
    if pw is None and required:
        raise UsageError("give a password with --password PW or --password-stdin")
    return pw


def when(ts: int | None) -> str:
    """A timestamp as local time for people; 'never' for none."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "never"
