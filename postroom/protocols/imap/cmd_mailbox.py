"""CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE LIST LSUB NAMESPACE and QUOTA
(RFC 9051 §6.3.4–6.3.10; RFC 5258 LIST-EXTENDED; RFC 5819 LIST-STATUS; RFC 6154 SPECIAL-USE;
RFC 2342 NAMESPACE; RFC 9208 QUOTA).

LIST shows only what the access gate lets the user see (``l``); levels between a visible
folder and the namespace root are shown as ``\\Noselect`` so clients can build the tree, and
they reveal nothing: a level only appears when something visible lies below it.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field

from postroom.core.errors import Kind, MailError
from postroom.protocols.imap.cmd_select import parse_status_items, status_items
from postroom.protocols.imap.session import AUTHED, Reply, Session, command, no, ok
from postroom.protocols.imap.wire import (
    Command,
    ParseError,
    Token,
    atom_of,
    expect_count,
    list_of,
    quote,
    text_of,
)
from postroom.services import names

SPECIAL_USES = ("\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash")  # storable ones
DELIM = names.DELIMITER


def name_arg(s: Session, token: Token, new: bool = False) -> str:
    name = s.mailbox_in(token, new)
    if name.endswith(DELIM) and len(name) > 1:
        name = name.rstrip(DELIM)  # RFC 9051 §6.3.4: a trailing delimiter is allowed
    return names.canonical_inbox(name)


@command("CREATE", AUTHED)
async def create(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 1, 2)
    name = name_arg(s, cmd.args[0], new=True)
    if name.upper() == "INBOX":
        return no("INBOX always exists", "ALREADYEXISTS")
    use = ""
    if len(cmd.args) == 2:  # RFC 6154 §3: CREATE name (USE (\Sent))
        params = list_of(cmd.args[1], "CREATE parameters")
        if len(params) != 2 or atom_of(params[0], "parameter").upper() != "USE":
            raise ParseError("CREATE takes (USE (attributes))")
        attrs = [atom_of(a, "special use") for a in list_of(params[1], "USE")]
        wanted = [a for a in SPECIAL_USES if any(x.lower() == a.lower() for x in attrs)]
        if len(attrs) != 1 or not wanted:
            return no("Only one of " + " ".join(SPECIAL_USES) + " can be set", "USEATTR")
        use = wanted[0]
    assert s.principal is not None
    await s.services.mailboxes.create(s.principal, name, special_use=use)
    return ok("CREATE completed")


@command("DELETE", AUTHED)
async def delete(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 1)
    name = name_arg(s, cmd.args[0])
    assert s.principal is not None
    sel = s.selected
    try:
        loc = await s.services.mailboxes.open(s.principal, name)
        if sel is not None and sel.handle.mailbox.id == loc.mailbox.id:
            s.deselect()
        await s.services.mailboxes.delete(s.principal, name)
    except MailError as exc:
        if exc.kind is Kind.IN_USE:
            return no(exc.text, "HASCHILDREN")
        raise
    return ok("DELETE completed")


@command("RENAME", AUTHED)
async def rename(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 2)
    assert s.principal is not None
    await s.services.mailboxes.rename(s.principal, name_arg(s, cmd.args[0]),
                                      name_arg(s, cmd.args[1], new=True))
    return ok("RENAME completed")


@command("SUBSCRIBE", AUTHED)
@command("UNSUBSCRIBE", AUTHED)
async def subscribe(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 1)
    assert s.principal is not None
    on = cmd.name == "SUBSCRIBE"
    await s.services.mailboxes.subscribe(s.principal, name_arg(s, cmd.args[0]), on)
    return ok(f"{cmd.name} completed")


@command("NAMESPACE", AUTHED)
async def namespace(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 0)  # Product decision 4; RFC 2342 §5
    d = DELIM.encode()
    s.send(b'* NAMESPACE (("" "%s")) (("%s%s" "%s")) (("%s%s" "%s"))' % (
        d, names.OTHER_USERS.encode(), d, d, names.PUBLIC.encode(), d, d))
    return ok("NAMESPACE completed")


# -- LIST ----------------------------------------------------------------------------------------
@dataclass
class Entry:
    name: str
    selectable: bool
    special_use: str = ""
    children: bool = False
    subscribed: bool = False


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """``*`` matches anything, ``%`` anything but the delimiter (RFC 9051 §6.3.9)."""
    out = []
    for ch in names.canonical_inbox(pattern):
        out.append(".*" if ch == "*" else "[^/]*" if ch == "%" else re.escape(ch))
    return re.compile("^" + "".join(out) + "$", re.S)


@dataclass
class ListRequest:
    ref: str
    patterns: list[str]
    subscribed_only: bool = False
    recursive: bool = False
    special_only: bool = False
    ret_subscribed: bool = False
    ret_children: bool = True
    ret_special: bool = True
    status: list[str] = field(default_factory=list)
    extended: bool = False


def parse_list(s: Session, args: list[Token]) -> ListRequest:
    i = 0
    sel: list[str] = []
    if args and isinstance(args[0], list):  # RFC 5258 §3: selection options
        sel = [atom_of(t, "selection option").upper() for t in args[0]]
        i = 1
    if len(args) < i + 2:
        raise ParseError("LIST needs a reference and a mailbox pattern")
    ref = s.mailbox_in(args[i])
    pat_tok = args[i + 1]
    patterns = [s.mailbox_in(p) for p in pat_tok] if isinstance(pat_tok, list) else \
        [s.mailbox_in(pat_tok)]
    req = ListRequest(ref, patterns, extended=bool(sel) or isinstance(pat_tok, list))
    for opt in sel:
        if opt == "SUBSCRIBED":
            req.subscribed_only = req.ret_subscribed = True
        elif opt == "RECURSIVEMATCH":
            req.recursive = True
        elif opt == "SPECIAL-USE":
            req.special_only = True
        elif opt != "REMOTE":
            raise ParseError(f"unknown LIST selection option {opt}")
    if req.recursive and not req.subscribed_only:
        raise ParseError("RECURSIVEMATCH needs another selection option")  # RFC 5258 §3
    rest = args[i + 2:]
    if rest:
        if len(rest) != 2 or atom_of(rest[0], "RETURN").upper() != "RETURN":
            raise ParseError("expected RETURN (options)")
        req.extended = True
        opts = list_of(rest[1], "RETURN options")
        j = 0
        while j < len(opts):
            opt = atom_of(opts[j], "return option").upper()
            if opt == "SUBSCRIBED":
                req.ret_subscribed = True
            elif opt in ("CHILDREN", "SPECIAL-USE"):
                pass
            elif opt == "STATUS" and j + 1 < len(opts):  # RFC 5819
                req.status = parse_status_items(opts[j + 1])
                j += 1
            else:
                raise ParseError(f"unknown LIST return option {opt}")
            j += 1
    return req


async def _entries(s: Session, subscriptions: set[str]) -> dict[str, Entry]:
    assert s.principal is not None
    entries: dict[str, Entry] = {}
    for item in await s.services.mailboxes.list(s.principal):
        entries[item.name] = Entry(item.name, True, item.mailbox.special_use)
    for name in list(entries):
        parts = name.split(DELIM)
        for depth in range(1, len(parts)):
            parent = DELIM.join(parts[:depth])
            if parent not in entries:
                entries[parent] = Entry(parent, False)
            entries[parent].children = True
    for name, entry in entries.items():
        entry.subscribed = name in subscriptions
    return entries


def _full_pattern(ref: str, pattern: str) -> str:
    if not ref or pattern.startswith(DELIM):
        return pattern
    return ref + pattern if ref.endswith(DELIM) else ref + DELIM + pattern if pattern else ref


@command("LIST", AUTHED)
async def list_(s: Session, cmd: Command) -> Reply:
    req = parse_list(s, cmd.args)
    if len(req.patterns) == 1 and req.patterns[0] == "" and not req.extended:
        s.send(b'* LIST (\\Noselect) "/" ""')  # RFC 9051 §6.3.9: the hierarchy delimiter
        return ok("LIST completed")
    assert s.principal is not None
    subs: set[str] = set(await s.services.mailboxes.subscriptions(s.principal))
    entries = await _entries(s, subs)
    regexes = [pattern_regex(_full_pattern(req.ref, p)) for p in req.patterns]
    candidates = list(entries)
    if req.subscribed_only:  # subscribed names that do not exist are still listed
        candidates += [n for n in subs if n not in entries]
    if req.recursive:  # parents of subscribed names, existing or not, may get CHILDINFO
        candidates += [DELIM.join(n.split(DELIM)[:d]) for n in subs
                       for d in range(1, n.count(DELIM) + 1)]
    for name in _ordered(candidates):
        entry = entries.get(name) or Entry(name, False)
        matched = any(r.match(name) for r in regexes)
        attrs: list[str] = []
        child_info = False
        if not matched:
            continue
        if req.subscribed_only and name not in subs:
            if not (req.recursive and _childinfo(name, subs, regexes)):
                continue
            child_info = True
        if req.special_only and not entry.special_use:
            continue
        if name not in entries:
            attrs.append("\\NonExistent")
        elif not entry.selectable:
            attrs.append("\\Noselect")
        if name in entries:
            attrs.append("\\HasChildren" if entry.children else "\\HasNoChildren")
        if (req.ret_subscribed or req.subscribed_only) and name in subs:
            attrs.append("\\Subscribed")
        if entry.special_use:
            attrs.append(entry.special_use)
        line = b"* LIST (" + " ".join(attrs).encode() + b') "/" ' + s.mailbox_out(name)
        if child_info and name not in subs:
            line += b' ("CHILDINFO" ("SUBSCRIBED"))'  # RFC 5258 §4
        s.send(line)
        if req.status and entry.selectable:
            with contextlib.suppress(MailError):  # RFC 5819 §2: none if it cannot be had
                s.send(await status_items(s, name, req.status))
    return ok("LIST completed")


def _childinfo(name: str, subs: set[str], regexes: list[re.Pattern[str]]) -> bool:
    """RFC 5258 §3.5 CHILDINFO: with RECURSIVEMATCH, a mailbox that matches the pattern but
    not the selection criteria (SUBSCRIBED) is listed because a descendant meets them, and
    only when that descendant does not match the pattern itself: a descendant that matches is
    listed on its own line, and the parent then adds nothing (RFC 5258 §5, the examples with
    ``*`` against ``%``)."""
    prefix = name + DELIM
    return any(sub.startswith(prefix) and not any(r.match(sub) for r in regexes)
               for sub in subs)


def _ordered(items: list[str]) -> list[str]:
    def key(name: str) -> tuple[int, str]:
        if name == "INBOX" or name.startswith("INBOX/"):
            return (0, name)
        if name.startswith((names.OTHER_USERS, names.PUBLIC)):
            return (2, name)
        return (1, name)
    return sorted(set(items), key=key)


@command("LSUB", AUTHED)
async def lsub(s: Session, cmd: Command) -> Reply:
    """RFC 3501 §6.3.9 (rev1 only; rev2 clients use LIST (SUBSCRIBED))."""
    expect_count(cmd.args, 2)
    ref = s.mailbox_in(cmd.args[0])
    pattern = s.mailbox_in(cmd.args[1])
    assert s.principal is not None
    subs: set[str] = set(await s.services.mailboxes.subscriptions(s.principal))
    visible = {item.name for item in await s.services.mailboxes.list(s.principal)}
    regex = pattern_regex(_full_pattern(ref, pattern))
    shown: dict[str, bool] = {}  # name → \Noselect
    for sub in subs:
        if regex.match(sub):
            shown[sub] = shown.get(sub, True) and sub not in visible
            continue
        parts = sub.split(DELIM)
        for depth in range(len(parts) - 1, 0, -1):  # RFC 3501 §6.3.9: the level % stops at
            name = DELIM.join(parts[:depth])
            if regex.match(name):
                shown[name] = shown.get(name, True) and (name not in subs
                                                         or name not in visible)
                break
    for name in _ordered(list(shown)):
        attrs = "\\Noselect" if shown[name] else ""
        s.send(b"* LSUB (" + attrs.encode() + b') "/" ' + s.mailbox_out(name))
    return ok("LSUB completed")


# -- QUOTA (RFC 9208) ----------------------------------------------------------------------------
ROOT = ""  # one root per account: all of its folders


async def _quota_line(s: Session) -> bytes:
    assert s.principal is not None and s.principal.account_id is not None
    used, limit = await s.services.mailboxes.quota(s.principal)
    if limit is None:
        return b"* QUOTA " + quote(ROOT) + b" ()"
    return b"* QUOTA %s (STORAGE %d %d)" % (quote(ROOT), used // 1024, limit // 1024)


@command("GETQUOTAROOT", AUTHED)
async def getquotaroot(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 1)
    name = name_arg(s, cmd.args[0])
    assert s.principal is not None
    handle = await s.services.mailboxes.open(s.principal, name)
    if handle.mailbox.owner_id is not None and handle.mailbox.owner_id == \
            s.principal.account_id:
        s.send(b"* QUOTAROOT " + s.mailbox_out(name) + b" " + quote(ROOT))
        s.send(await _quota_line(s))
    else:
        s.send(b"* QUOTAROOT " + s.mailbox_out(name))
    return ok("GETQUOTAROOT completed")


@command("GETQUOTA", AUTHED)
async def getquota(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 1)
    if text_of(cmd.args[0], "quota root") != ROOT or s.principal is None \
            or s.principal.account_id is None:
        return no("No such quota root", "NONEXISTENT")
    s.send(await _quota_line(s))
    return ok("GETQUOTA completed")


@command("SETQUOTA", AUTHED)
async def setquota(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 2)
    return no("Quotas are set by administrators: postroom user set ADDRESS --quota",
              "NOPERM")
