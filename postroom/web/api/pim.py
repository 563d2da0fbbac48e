"""``/api/v1`` import and export of whole calendars (.ics) and address books (.vcf), the API's
face of ``postroom calendar|contacts import|export`` (services/dav/transfer.py does the work).

    POST /groupware/users/{address}/calendars/{folder}   import an .ics (body text/calendar)
    GET  /groupware/users/{address}/calendars/{folder}   export it as one VCALENDAR
    POST /groupware/users/{address}/contacts/{folder}    import a .vcf (body text/vcard)
    GET  /groupware/users/{address}/contacts/{folder}    export it
    ... and the same under /groupware/me/ for the caller's own (and shared) folders.

Under /users/ an administrator of the account's domain works in the account as the CLI does;
under /me/ the caller works as themselves, through the gate, exactly as a CalDAV/CardDAV
client would. The body is streamed to a spool file (at most web.dav.max_import_size octets,
413 beyond) and split item by item from there; it is never held whole in memory. An export
streams as it is joined.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import IO

import msgspec
from starlette.responses import StreamingResponse

from postroom.core.principal import Principal
from postroom.services.dav import Dav
from postroom.services.dav.transfer import ImportReport
from postroom.web.api.framework import Api, Call, In, Out, Problem

TAG = "groupware"
# Every path here starts with it, so that the web guard can give these uploads their own
# body limit (web.dav.max_import_size) instead of web.max_body_size
PREFIX = "/groupware"
SPOOL_IN_MEMORY = 1 << 20  # octets of an upload kept in memory before the spool goes to disk
CHUNK = 64 * 1024
KINDS = {
    "calendars": ("calendar", "text/calendar", ("text/calendar",), "calendar"),
    "contacts": ("contacts", "text/vcard", ("text/vcard", "text/x-vcard", "text/directory"),
                 "contacts"),
}


class ImportQuery(In):
    create: bool = False  # make the folder when there is none of that name


class SkippedItem(Out):
    item: int  # its position in the file, from 1
    reason: str


class ImportOut(Out):
    folder: str
    imported: int  # new items
    replaced: int  # items whose UID the folder held already
    skipped: list[SkippedItem] = msgspec.field(default_factory=list)
    stopped: str = ""  # why the import ended before the end of the file


def _dav(api: Api) -> Dav:
    dav = api.services.dav
    if dav is None:
        raise Problem(404, "groupware is not available in this installation")
    return dav


async def _spool(c: Call, most: int) -> IO[bytes]:
    """The request body in a spool file (memory, then disk), 413 past ``most`` octets."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    size = 0
    try:
        async for chunk in c.request.stream():
            size += len(chunk)
            if size > most:
                raise Problem(413, f"the file is larger than the {most} octets an import may "
                              "be (web.dav.max_import_size)")
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    while chunk := spool.read(CHUNK):
        yield chunk


def register(api: Api) -> None:
    for family in KINDS:
        _family(api, family, "/users/{address}", "user")
        _family(api, family, "/me", "own")


def _family(api: Api, family: str, base: str, whose: str) -> None:
    kind, out_type, accepted, cli_name = KINDS[family]
    what = "calendar (.ics)" if family == "calendars" else "address book (.vcf)"

    async def principal_of(c: Call) -> Principal:
        caller = c.actor.principal
        if whose == "own":
            if caller.address is None:
                raise Problem(404, "this caller has no calendars or address books")
            return caller
        return await _dav(api).transfer.acting(caller, c.param("address"))

    async def do_import(c: Call) -> ImportOut:
        dav = _dav(api)
        media = c.request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in accepted:
            raise Problem(415, f"send the file as {' or '.join(accepted)}")
        principal = await principal_of(c)
        coll = await dav.transfer.collection(principal, kind, c.param("folder"),
                                             create=c.query_as(ImportQuery).create)
        spool = await _spool(c, dav.config.max_import_size)
        try:
            report: ImportReport
            if family == "calendars":
                report = await dav.transfer.import_calendar(principal, coll, _chunks(spool))
            else:
                report = await dav.transfer.import_cards(principal, coll, _chunks(spool))
        finally:
            spool.close()
        return ImportOut(folder=coll.name, imported=report.imported, replaced=report.replaced,
                         skipped=[SkippedItem(item=n, reason=r) for n, r in report.skipped],
                         stopped=report.stopped)

    async def do_export(c: Call) -> StreamingResponse:
        dav = _dav(api)
        principal = await principal_of(c)
        coll = await dav.transfer.collection(principal, kind, c.param("folder"))
        stream = dav.transfer.export_calendar(principal, coll) if family == "calendars" \
            else dav.transfer.export_cards(principal, coll)
        # the first chunk before the answer starts: a refusal (rights) is still a 4xx then
        first = await anext(stream, b"")

        async def body() -> AsyncIterator[bytes]:
            if first:
                yield first
            async for chunk in stream:
                yield chunk
        return StreamingResponse(body(), media_type=out_type)

    name = "calendar" if family == "calendars" else "contacts"
    do_import.__name__ = f"import_{name}_{whose}"
    do_export.__name__ = f"export_{name}_{whose}"
    path = f"{PREFIX}{base}/{family}/{{folder:path}}"
    mine = "the caller's" if whose == "own" else "the account's"
    api.add("POST", path, summary=f"Import a whole {what} into {mine} folder (each item as a "
            "client's PUT; bad items skipped and listed by number; same UID replaces)",
            tag=TAG, cli=f"postroom {cli_name} import", query=ImportQuery, upload=accepted,
            out=ImportOut)(do_import)
    api.add("GET", path, summary=f"Export {mine} folder as one {what}", tag=TAG,
            cli=f"postroom {cli_name} export", out=bytes,
            raw=out_type)(do_export)
