"""``postroom calendar import|export`` and ``postroom contacts import|export``: whole .ics and
.vcf files into and out of an account's calendars and address books (services/dav/transfer.py
does the work, item by item through the same checks as CalDAV/CardDAV).

The operator acts in the account (``Principal.operator_as``): every right, and no
invitations sent for imported events (restoring a calendar must not re-invite its attendees).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from postroom.app import Services
from postroom.cli.context import OPERATOR, emit_one, say
from postroom.core.errors import Kind, MailError, invalid
from postroom.core.principal import Principal
from postroom.services.dav import Dav
from postroom.services.dav.model import Collection
from postroom.services.dav.transfer import ImportReport

CHUNK = 64 * 1024
KINDS = {"calendar": ("calendar", ".ics", "a calendar", "an iCalendar (.ics)"),
         "contacts": ("contacts", ".vcf", "an address book", "a vCard (.vcf, 3.0 or 4.0)")}


def _read(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


async def _target(s: Services, args: argparse.Namespace, create: bool,
                  ) -> tuple[Dav, Principal, Collection]:
    if s.dav is None:
        raise MailError(Kind.UNAVAILABLE, "groupware is not available in this installation")
    account = await s.directory.require_account(args.address)
    principal = Principal.operator_as(account.id, account.address, account.domain_id)
    coll = await s.dav.transfer.collection(principal, KINDS[args.kind][0], args.folder,
                                           create=create)
    return s.dav, principal, coll


async def import_cmd(s: Services, args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise invalid(f"{path} is not a file")
    size = path.stat().st_size
    dav, principal, coll = await _target(s, args, args.create)
    most = dav.config.max_import_size
    if size > most:
        raise MailError(Kind.LIMIT, f"{path} has {size} octets; imports take at most {most} "
                        "(web.dav.max_import_size)")
    transfer = dav.transfer
    with Progress(TextColumn(f"importing {path.name}"), BarColumn(), DownloadColumn(),
                  TextColumn("{task.fields[items]} items"), TimeElapsedColumn(),
                  disable=args.json or not sys.stderr.isatty()) as progress:
        task = progress.add_task("", total=size, items=0)

        def tick(items: int, octets: int) -> None:
            progress.update(task, completed=octets, items=items)
        if args.kind == "calendar":
            report = await transfer.import_calendar(principal, coll, _read(path), tick)
        else:
            report = await transfer.import_cards(principal, coll, _read(path), tick)
    await s.admin.note(OPERATOR, f"{args.kind}.import", args.address,
                       {"path": str(path), "folder": coll.name, "imported": report.imported,
                        "replaced": report.replaced, "skipped": len(report.skipped),
                        "stopped": report.stopped})
    _tell(args, coll, report)
    return 1 if report.stopped else 0


def _tell(args: argparse.Namespace, coll: Collection, report: ImportReport) -> None:
    if args.json:
        emit_one(args, {"folder": coll.name, "imported": report.imported,
                        "replaced": report.replaced,
                        "skipped": [{"item": n, "reason": r} for n, r in report.skipped],
                        "stopped": report.stopped})
        return
    say(f"{report.imported} new, {report.replaced} replaced in {coll.name} of {args.address}"
        + (f", {len(report.skipped)} skipped" if report.skipped else ""))
    for number, reason in report.skipped[:50]:
        say(f"  item {number} skipped: {reason}")
    if len(report.skipped) > 50:
        say(f"  ... and {len(report.skipped) - 50} more (--json lists them all)")
    if report.stopped:
        say(f"stopped {report.stopped}; the items before it were imported")


async def export_cmd(s: Services, args: argparse.Namespace) -> int:
    dav, principal, coll = await _target(s, args, False)
    stream = dav.transfer.export_calendar(principal, coll) if args.kind == "calendar" \
        else dav.transfer.export_cards(principal, coll)
    to_stdout = args.file == "-"
    out: BinaryIO
    if to_stdout:
        out = sys.stdout.buffer
    else:
        target = Path(args.file)
        partial = target.with_name(target.name + ".part")
        out = open(partial, "wb")  # noqa: SIM115 - closed below, renamed when complete
    written = 0
    try:
        with Progress(TextColumn(f"exporting {coll.name}"), DownloadColumn(),
                      TimeElapsedColumn(),
                      disable=to_stdout or args.json or not sys.stderr.isatty()) as progress:
            task = progress.add_task("", total=None)
            async for chunk in stream:
                out.write(chunk)
                written += len(chunk)
                progress.update(task, completed=written)
        out.flush()
    except BaseException:
        if not to_stdout:
            out.close()
            partial.unlink(missing_ok=True)
        raise
    if not to_stdout:
        out.close()
        partial.replace(target)  # a complete file or none: never half an export
    if args.json and not to_stdout:
        emit_one(args, {"folder": coll.name, "file": str(target), "octets": written})
    elif not to_stdout:
        say(f"{coll.name} of {args.address} written to {target} ({written} octets)")
    return 0


def add_pim_parsers(cmd: Any, leaf: Any, actions: Any, with_services: Any) -> None:
    """``calendar`` and ``contacts``, each with ``import`` and ``export``."""
    for kind, (_k, suffix, what, fmt) in KINDS.items():
        group = actions(cmd(kind, f"Import or export {what} of an account as {fmt} file."))
        im = leaf(group, "import", f"import {fmt} file into {what}", json_flag=True)
        im.add_argument("address", help="the account (user@domain)")
        im.add_argument("folder", help=f"{what} by folder name, e.g. "
                        f"{'Calendar' if kind == 'calendar' else 'Contacts'}")
        im.add_argument("file", help=f"the {suffix} file")
        im.add_argument("--create", action="store_true",
                        help="create the folder when the account has none of that name")
        im.epilog = (
            "Each item is stored as if a client had saved it, with the same checks. An item "
            "whose UID the folder holds already replaces it, so an import may be run again. "
            "Items that fail the checks are skipped and listed by their number in the file; "
            "the rest is imported. Files larger than web.dav.max_import_size are refused. "
            "No invitations are sent for imported events.")
        im.set_defaults(func=with_services(import_cmd), kind=kind)
        ex = leaf(group, "export", f"export {what} as {fmt} file", json_flag=True)
        ex.add_argument("address", help="the account (user@domain)")
        ex.add_argument("folder", help=f"{what} by folder name")
        ex.add_argument("file", help=f"where to write the {suffix} file ('-' for standard "
                        "output); written whole or not at all")
        ex.set_defaults(func=with_services(export_cmd), kind=kind)
