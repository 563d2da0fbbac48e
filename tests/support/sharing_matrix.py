"""The sharing matrix and scenario, written once and run against any IMAP server.

Alice owns every folder; Bob is the grantee. For each right, Bob holds exactly that right on a
folder of Alice's, and one command is tried on it; the outcome (tagged status and the response
codes that matter, plus the visible effect where there is one) is compared with what specs.md
§2.5 (RFC 4314 §4) and the Product decisions require. Selected-state commands need ``r`` to
reach the folder at all (RFC 4314 §4: selected-state commands imply it), so those rows hold
``r`` plus the right under test, and one row holds ``rte``, the set MOVE needs on its source.

Each case gets its own folders, set up by Alice before Bob connects (so a server that caches
rights per session, as Dovecot may, sees the final ACLs), then Bob acts, then Alice observes.
The same functions run against Postroom (tests/protocol/imap/test_sharing_matrix.py) and
against Dovecot (tests/e2e/test_sharing_dovecot.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.support.imapclient import RawImap

RIGHTS = "lrswipkxtea"
VISIBLE = set("lrikxa")  # Product decision 8
FLAG_RIGHTS = set("swtie")  # READ-WRITE when any is held (RFC 4314 §5.2)
CODES = ("READ-ONLY", "READ-WRITE", "NONEXISTENT", "NOPERM", "TRYCREATE", "ALREADYEXISTS",
         "CANNOT", "HASCHILDREN")
MESSAGE = (b"From: a@example.test\r\nTo: b@example.test\r\nSubject: matrix\r\n"
           b"Message-ID: <m@example.test>\r\n\r\nbody\r\n")
CARRIED = "\\Seen \\Flagged \\Deleted $Label"  # flags offered by APPEND / COPY / MOVE


@dataclass
class Target:
    """A server under test: its IMAP port and a way to make accounts."""

    name: str
    port: int
    add_user: Callable[[str], tuple[str, str]]

    def login(self, user: tuple[str, str]) -> RawImap:
        c = RawImap(self.port)
        c.login(*user)
        return c


def outcome(tagged: bytes) -> str:
    """``OK``, ``NO [NOPERM]``, ``BAD``...: the status and the code that matters."""
    parts = tagged.decode(errors="replace").split(" ", 2)
    status = parts[1] if len(parts) > 1 else "?"
    m = re.match(r"\[([A-Z-]+)", parts[2] if len(parts) > 2 else "")
    code = m.group(1) if m and m.group(1) in CODES else ""
    return f"{status} [{code}]" if code else status


def flags_of(lines: list[bytes]) -> str:
    """The flags of FETCH lines, ``\\Recent`` dropped, sorted, joined per message. Untagged
    ``* FLAGS (...)`` lines announcing a new keyword (RFC 3501 §7.2.6) are not messages."""
    out = []
    for line in lines:
        if b" FETCH " not in line:
            continue
        m = re.search(rb"FLAGS \(([^)]*)\)", line)
        if m:
            names = sorted(f for f in m.group(1).decode().split() if f != "\\Recent")
            out.append(" ".join(names) or "-")
    return ",".join(out) or "none"


@dataclass
class Case:
    key: str
    act: Callable[[RawImap], str]
    observe: Callable[[RawImap], str] | None = None
    always: bool = False  # observe after a refusal too (message counts)


@dataclass
class Run:
    target: Target
    alice: tuple[str, str] = ("", "")
    bob: tuple[str, str] = ("", "")
    carol: tuple[str, str] = ("", "")  # a third account, so Bob's own entry stays
    n: int = 0
    cases: list[Case] = field(default_factory=list)

    def other(self, folder: str) -> str:
        return f'"Other Users/{self.alice[0]}/{folder}"'

    def fresh(self, label: str) -> str:
        self.n += 1
        return f"{label}{self.n}"


def expected(rights: str, command: str) -> str:
    """What specs.md §2.5 and the Product decisions require (our reading, our replies)."""
    has = set(rights)
    vis = bool(has & VISIBLE)
    missing = "NO [NONEXISTENT]"

    def need(letter: str, absent: str = missing) -> str:
        if letter in has:
            return "OK"
        return "NO [NOPERM]" if vis else absent

    if command == "LIST":
        return "listed" if "l" in has else "hidden"
    if command == "SUBSCRIBE":
        return need("l")
    if command in ("SELECT", "EXAMINE"):
        if "r" not in has:
            return need("r")
        return "OK [READ-ONLY]" if command == "EXAMINE" or not has & FLAG_RIGHTS \
            else "OK [READ-WRITE]"
    if command == "STATUS":
        return need("r")
    if command == "MYRIGHTS":
        return "OK" if vis else missing
    if command in ("GETACL", "SETACL", "DELETEACL", "LISTRIGHTS"):
        return need("a")
    if command in ("APPEND", "COPY-into", "UID COPY-into", "MOVE-into", "UID MOVE-into"):
        if "i" not in has:
            return need("i", "NO [TRYCREATE]")
        kept = sorted((["\\Deleted"] if "t" in has else [])
                      + (["$Label", "\\Flagged"] if "w" in has else []))
        return "OK " + (" ".join(sorted(kept)) or "-")
    if command == "CREATE-under":
        return "OK" if "k" in has else "NO [NOPERM]"
    if command in ("DELETE", "RENAME-from"):
        return need("x")
    if command == "RENAME-to":
        return "OK" if "k" in has else "NO [NOPERM]"
    # Selected state: Bob holds r plus the right(s) under test.
    writable = bool(has & FLAG_RIGHTS)
    if command in ("FETCH", "UID FETCH"):
        return "OK " + ("\\Seen" if "s" in has else "-")
    if command in ("SEARCH", "UID SEARCH", "COPY-from", "UID COPY-from"):
        return "OK"
    store = {"STORE-seen": ("s", "\\Seen"), "STORE-deleted": ("t", "\\Deleted"),
             "STORE-flagged": ("w", "\\Flagged"), "STORE-keyword": ("w", "$Label"),
             "UID STORE-flagged": ("w", "\\Flagged")}
    if command in store:
        letter, flag = store[command]
        if not writable:
            return "NO [NOPERM]"
        return "OK " + (flag if letter in has else "-")
    if command in ("EXPUNGE", "UID EXPUNGE"):
        return "OK 1" if "e" in has else "NO [NOPERM] 2"
    if command == "CLOSE":
        return "OK " + ("1" if "e" in has and writable else "2")
    if command in ("MOVE-from", "UID MOVE-from"):
        return "OK 1" if {"t", "e"} <= has else "NO [NOPERM] 2"
    raise KeyError(command)


MAILBOX_COMMANDS = ("LIST", "SUBSCRIBE", "SELECT", "EXAMINE", "STATUS", "MYRIGHTS", "GETACL",
                    "SETACL", "DELETEACL", "LISTRIGHTS", "APPEND", "COPY-into",
                    "UID COPY-into", "MOVE-into", "UID MOVE-into", "CREATE-under", "DELETE",
                    "RENAME-from", "RENAME-to")
SELECTED_COMMANDS = ("SELECT", "FETCH", "UID FETCH", "SEARCH", "UID SEARCH", "STORE-seen",
                     "STORE-deleted", "STORE-flagged", "STORE-keyword", "UID STORE-flagged",
                     "EXPUNGE", "UID EXPUNGE", "CLOSE", "COPY-from", "UID COPY-from",
                     "MOVE-from", "UID MOVE-from")
SELECTED_ROWS = ("r", *(f"r{x}" for x in RIGHTS if x != "r"), "rte")
INTO_COMMANDS = ("APPEND", "COPY-into", "UID COPY-into", "MOVE-into", "UID MOVE-into")
INTO_ROWS = ("is", "iw", "it", "iswt")  # which offered flags survive (RFC 4314 §4)


def _cmd(c: RawImap, text: str) -> str:
    return outcome(c.cmd(text)[1])


def _owner_flags(run: Run, folder: str) -> Callable[[RawImap], str]:
    def observe(a: RawImap) -> str:
        if outcome(a.cmd(f'EXAMINE "{folder}"')[1]) != "OK [READ-ONLY]":
            return "?"
        return flags_of(a.cmd("FETCH * FLAGS")[0])  # the message Bob put there
    return observe


def _owner_count(folder: str) -> Callable[[RawImap], str]:
    def observe(a: RawImap) -> str:
        lines = a.cmd(f'STATUS "{folder}" (MESSAGES)')[0]
        m = re.search(rb"MESSAGES (\d+)", b"".join(lines))
        return m.group(1).decode() if m else "?"
    return observe


def _plan_mailbox(run: Run, a: RawImap, b_setup: RawImap, right: str, command: str) -> None:
    alice, bob = run.alice[0], run.bob[0]
    key = f"{right}:{command}"
    f = run.fresh("F")
    if command.startswith("RENAME"):
        parent = run.fresh("P")
        a.ok(f'CREATE "{parent}"')  # explicitly: Maildir servers may leave it implied
        a.ok(f'CREATE "{parent}/{f}"')
        src, dst = f"{parent}/{f}", f"{parent}/G{run.n}"
        on_src, on_parent = (right, "k") if command == "RENAME-from" else ("x", right)
        a.ok(f'SETACL "{src}" {bob} {on_src}')
        a.ok(f'SETACL "{parent}" {bob} {on_parent}')
        run.cases.append(Case(key, lambda b: _cmd(b, f"RENAME {run.other(src)} "
                                                      f"{run.other(dst)}")))
        return
    a.ok(f'CREATE "{f}"')
    a.append(f, MESSAGE)
    a.ok(f'SETACL "{f}" {bob} {right}')
    other = run.other(f)
    carol = run.carol[0]  # an account that exists: an ACL for nobody is refused (issue 19)
    simple = {
        "SUBSCRIBE": f"SUBSCRIBE {other}", "SELECT": f"SELECT {other}",
        "EXAMINE": f"EXAMINE {other}", "STATUS": f"STATUS {other} (MESSAGES)",
        "MYRIGHTS": f"MYRIGHTS {other}", "GETACL": f"GETACL {other}",
        "SETACL": f"SETACL {other} {carol} lr", "DELETEACL": f"DELETEACL {other} {carol}",
        "LISTRIGHTS": f"LISTRIGHTS {other} {bob}", "CREATE-under": f'CREATE "Other Users/'
        f'{alice}/{f}/sub"', "DELETE": f"DELETE {other}"}
    if command == "LIST":
        def listed(b: RawImap) -> str:
            lines = b.cmd(f'LIST "" {other}')[0]
            return "listed" if any(other.encode() in ln for ln in lines) else "hidden"
        run.cases.append(Case(key, listed))
    elif command in simple:
        text = simple[command]
        run.cases.append(Case(key, lambda b: _cmd(b, text)))
    elif command == "APPEND":
        def append(b: RawImap) -> str:
            return outcome(b.append(other.strip('"'), MESSAGE, CARRIED))
        run.cases.append(Case(key, append, _owner_flags(run, f)))
    else:  # COPY / MOVE into: from a folder of Bob's own holding one flagged message
        src = run.fresh("Src")
        b_setup.ok(f'CREATE "{src}"')
        b_setup.append(src, MESSAGE, CARRIED)
        verb = command.removesuffix("-into")

        def into(b: RawImap) -> str:
            b.ok(f'SELECT "{src}"')
            return _cmd(b, f"{verb} 1 {other}")
        run.cases.append(Case(key, into, _owner_flags(run, f)))


def _plan_selected(run: Run, a: RawImap, rights: str, command: str) -> None:
    bob = run.bob[0]
    key = f"{rights}:{command}"
    f = run.fresh("S")
    a.ok(f'CREATE "{f}"')
    a.append(f, MESSAGE, "\\Deleted")
    a.append(f, MESSAGE)
    a.ok(f'SETACL "{f}" {bob} {rights}')
    other = run.other(f)

    def selected(then: Callable[[RawImap], str]) -> Callable[[RawImap], str]:
        def act(b: RawImap) -> str:
            sel = _cmd(b, f"SELECT {other}")
            if not sel.startswith("OK"):
                return f"SELECT {sel}"
            return then(b)
        return act

    def fetch(uid: bool) -> Callable[[RawImap], str]:
        def then(b: RawImap) -> str:
            res = _cmd(b, f"{'UID ' if uid else ''}FETCH 2 BODY[]")
            return f"{res} {flags_of(b.cmd('FETCH 2 FLAGS')[0])}"
        return then

    def store(flag: str, uid: bool = False) -> Callable[[RawImap], str]:
        def then(b: RawImap) -> str:
            res = _cmd(b, f"{'UID ' if uid else ''}STORE 2 +FLAGS ({flag})")
            now = flags_of(b.cmd("FETCH 2 FLAGS")[0])
            return f"{res} {flag if flag in now.split() else '-'}" if res == "OK" else res
        return then

    def counted(text: str) -> Callable[[RawImap], str]:
        def then(b: RawImap) -> str:
            return _cmd(b, text)
        return then

    acts: dict[str, Callable[[RawImap], str]] = {
        "SELECT": lambda b: _cmd(b, f"SELECT {other}"),
        "FETCH": selected(fetch(False)), "UID FETCH": selected(fetch(True)),
        "SEARCH": selected(counted("SEARCH ALL")), "UID SEARCH": selected(counted(
            "UID SEARCH ALL")),
        "STORE-seen": selected(store("\\Seen")), "STORE-deleted": selected(store("\\Deleted")),
        "STORE-flagged": selected(store("\\Flagged")),
        "STORE-keyword": selected(store("$Label")),
        "UID STORE-flagged": selected(store("\\Flagged", uid=True)),
        "EXPUNGE": selected(counted("EXPUNGE")),
        "UID EXPUNGE": selected(counted("UID EXPUNGE 1:*")),
        "CLOSE": selected(counted("CLOSE")),
        "COPY-from": selected(counted("COPY 2 INBOX")),
        "UID COPY-from": selected(counted("UID COPY 2 INBOX")),
        "MOVE-from": selected(counted("MOVE 1 INBOX")),
        "UID MOVE-from": selected(counted("UID MOVE 1 INBOX")),
    }
    counts = command in ("EXPUNGE", "UID EXPUNGE", "CLOSE", "MOVE-from", "UID MOVE-from")
    run.cases.append(Case(key, acts[command], _owner_count(f) if counts else None, counts))


def run_matrix(target: Target) -> dict[str, str]:
    """Every case's observed outcome, keyed ``rights:command``."""
    run = Run(target, target.add_user("alice"), target.add_user("bob"), target.add_user("carol"))
    a, b_setup = target.login(run.alice), target.login(run.bob)
    for right in RIGHTS:
        for command in MAILBOX_COMMANDS:
            _plan_mailbox(run, a, b_setup, right, command)
    for rights in INTO_ROWS:
        for command in INTO_COMMANDS:
            _plan_mailbox(run, a, b_setup, rights, command)
    for rights in SELECTED_ROWS:
        for command in SELECTED_COMMANDS:
            _plan_selected(run, a, rights, command)
    b_setup.close()
    b = target.login(run.bob)  # a fresh session: every ACL above is already in place
    results: dict[str, str] = {}
    for case in run.cases:
        results[case.key] = case.act(b)
    for case in run.cases:
        if case.observe is not None and (case.always or results[case.key].startswith("OK")):
            results[case.key] += " " + case.observe(a)
    a.close()
    b.close()
    return results


def expectations() -> dict[str, str]:
    out = {}
    for right in RIGHTS:
        for command in MAILBOX_COMMANDS:
            out[f"{right}:{command}"] = expected(right, command)
    for rights in INTO_ROWS:
        for command in INTO_COMMANDS:
            out[f"{rights}:{command}"] = expected(rights, command)
    for rights in SELECTED_ROWS:
        for command in SELECTED_COMMANDS:
            out[f"{rights}:{command}"] = expected(rights, command)
    return out
