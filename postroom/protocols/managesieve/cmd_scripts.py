"""Script commands: HAVESPACE PUTSCRIPT LISTSCRIPTS SETACTIVE GETSCRIPT DELETESCRIPT
RENAMESCRIPT CHECKSCRIPT (RFC 5804 §2.5–2.12).

Each is one call to the script service for the session's own user; the service compiles,
validates names (§1.6), counts quotas and refuses with ``MailError`` kinds or a
``SieveSyntaxError`` whose text names the line and column, which the session turns into
``NO (code) "text"`` (session.py ``ERRORS``).
"""

from __future__ import annotations

from collections.abc import Sequence

from postroom.protocols.managesieve.session import (
    AUTHED,
    Reply,
    Session,
    command,
    expect,
    no,
    ok,
)
from postroom.protocols.managesieve.wire import Command, number, string_of, string_out, text_of


def _warned(warnings: Sequence[str], text: str) -> Reply:
    """OK, with the compiler's warnings in a WARNINGS response code (RFC 5804 §1.3): on one
    quoted line, since clients read an OK's text from its line."""
    if warnings:
        return ok("; ".join(warnings), b"WARNINGS")
    return ok(text)


@command("HAVESPACE", AUTHED)
async def havespace(s: Session, cmd: Command) -> Reply:
    """RFC 5804 §2.5: would a script of this name and size fit?"""
    expect(cmd, 2)
    name = text_of(cmd.args[0], "script name")
    size = number(cmd.args[1], "the script size")
    most = s.scripts.limits.max_script_size
    if size > most:
        return no(f"Script too big: at most {most} octets", b"QUOTA/MAXSIZE")
    await s.scripts.have_space(s.actor(), name, size)
    return ok("Putscript would succeed")


@command("PUTSCRIPT", AUTHED)
async def putscript(s: Session, cmd: Command) -> Reply:
    """RFC 5804 §2.6: store (replace) a script after checking it; a bad one is refused with
    the line and column of the error and nothing is stored."""
    expect(cmd, 2)
    name = text_of(cmd.args[0], "script name")
    source = string_of(cmd.args[1], "script")
    warnings = await s.scripts.put(s.actor(), name, source, origin=s.origin())
    return _warned(warnings, "Script stored")


@command("CHECKSCRIPT", AUTHED)
async def checkscript(s: Session, cmd: Command) -> Reply:
    """RFC 5804 §2.12: PUTSCRIPT's checks without storing anything."""
    expect(cmd, 1)
    source = string_of(cmd.args[0], "script")
    return _warned(await s.scripts.check(s.actor(), source), "Script is valid")


@command("LISTSCRIPTS", AUTHED)
async def listscripts(s: Session, cmd: Command) -> Reply:
    """RFC 5804 §2.7: one line per script, ``ACTIVE`` after the active one."""
    expect(cmd, 0)
    for entry in await s.scripts.list(s.actor()):
        s.send(string_out(entry.name) + (b" ACTIVE" if entry.active else b""))
    return ok("Listscripts completed")


@command("SETACTIVE", AUTHED)
async def setactive(s: Session, cmd: Command) -> Reply:
    """RFC 5804 §2.8: make one script active; the empty name leaves none active."""
    expect(cmd, 1)
    name = text_of(cmd.args[0], "script name")
    await s.scripts.activate(s.actor(), name, origin=s.origin())
    return ok("Script activated" if name else "No script is active now")


@command("GETSCRIPT", AUTHED)
async def getscript(s: Session, cmd: Command) -> Reply:
    """RFC 5804 §2.9: the script as a literal, always (its text has line breaks, and clients
    expect the ``{n}`` form), then OK."""
    expect(cmd, 1)
    name = text_of(cmd.args[0], "script name")
    raw = (await s.scripts.get(s.actor(), name)).encode("utf-8")
    s.out.append(b"{%d}\r\n" % len(raw) + raw + b"\r\n")
    return ok("Getscript completed")


@command("DELETESCRIPT", AUTHED)
async def deletescript(s: Session, cmd: Command) -> Reply:
    """RFC 5804 §2.10: the active script cannot be deleted (``NO (ACTIVE)``)."""
    expect(cmd, 1)
    await s.scripts.delete(s.actor(), text_of(cmd.args[0], "script name"),
                           origin=s.origin())
    return ok("Script deleted")


@command("RENAMESCRIPT", AUTHED)
async def renamescript(s: Session, cmd: Command) -> Reply:
    """RFC 5804 §2.11.1: an active script stays active under its new name."""
    expect(cmd, 2)
    old = text_of(cmd.args[0], "script name")
    new = text_of(cmd.args[1], "new script name")
    await s.scripts.rename(s.actor(), old, new, origin=s.origin())
    return ok("Script renamed")
