"""The state of one Sieve run: the message, the environment, the actions so far, the variables.

Handlers (postroom/sieve/ext) read and change it through these methods only, so the limits
(postroom/sieve/limits.py) hold whatever an extension does: ``step`` counts evaluations and
checks the CPU budget, ``add_action`` counts actions and redirects and merges duplicates
(RFC 5228 §2.10.3), ``set_variable`` bounds variables (RFC 5229 §3).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from postroom.sieve.actions import Action, Discard, FileInto, Keep, Redirect, Reject, Vacation
from postroom.sieve.errors import SieveLimitExceeded, SieveRuntimeError
from postroom.sieve.limits import Limits
from postroom.sieve.message import Message

if TYPE_CHECKING:
    from postroom.sieve.bind import BoundScript, Call


class Environment(Protocol):
    """What a run may ask of the world outside the message. The delivery service implements
    it through the gate (a user learns of no folder they may not see); the test harness with
    plain dictionaries."""

    async def mailbox_exists(self, name: str) -> bool:
        """RFC 5490 §3.1 mailboxexists: the folder exists and the user may file into it."""
        ...

    async def metadata(self, mailbox: str | None, annotation: str) -> str | None:
        """RFC 5490 §3.3/§3.4: a folder's (or, for None, the server's) annotation value."""
        ...

    async def duplicate(self, tracking: str, seconds: int, last: bool) -> bool:
        """RFC 7352 §3: True if ``tracking`` was seen within ``seconds``; records it as seen
        if the delivery completes (the service commits the record with the delivery)."""
        ...

    async def include(self, name: str, location: str) -> BoundScript | None:
        """RFC 6609 §3.2: the bound script ``name`` of ``location`` ("personal" or
        "global"), or None if there is none."""
        ...

    def now(self) -> datetime:
        """The time of this delivery, timezone-aware (the ``currentdate`` test: RFC 5260
        §5)."""
        ...

    def user_addresses(self) -> tuple[str, ...]:
        """The recipient's own addresses (vacation's implicit :addresses: RFC 5230 §4.5)."""
        ...

    def environment(self, item: str) -> str | None:
        """RFC 5183 §4.1 items the world knows (domain, host, remote-host, remote-ip, …);
        None when unknown."""
        ...


CPU_CHECK_EVERY = 64  # steps between two looks at the CPU clock


class Stop(Exception):
    """``stop`` (RFC 5228 §3.3): end the whole run, includes included."""


class Return(Exception):
    """``return`` (RFC 6609 §3.4): end the current included script."""


@dataclass(slots=True)
class Result:
    """What a run decided. ``implicit_keep`` is true unless an action cancelled it
    (RFC 5228 §2.10.2); ``keep_flags`` are the flags for that implicit keep (RFC 5232 §3).
    ``error`` is set when the run failed: then only the implicit keep applies."""

    actions: list[Action] = field(default_factory=list)
    implicit_keep: bool = True
    keep_flags: tuple[str, ...] | None = None
    error: SieveRuntimeError | None = None
    # notes for the mail log (what ran, what an extension decided and why)
    log: list[str] = field(default_factory=list)


class Runtime:
    """One run of one script (and what it includes) over one message."""

    def __init__(self, script: BoundScript, message: Message, env: Environment,
                 limits: Limits) -> None:
        self.script = script
        self.message = message
        self.env = env
        self.limits = limits
        self.result = Result()
        self.required = set(script.required)
        self.variables: dict[str, str] = {}  # RFC 5229: names are case-insensitive (lower)
        self.global_variables: dict[str, str] = {}  # RFC 6609 §3.3 "global"
        self.match_variables: list[str] = []  # ${0}…${9} of the last successful match
        # imap4flags' internal variable (RFC 5232 §3), its value as a set of flags in order
        self.flags: list[str] = []
        self.uses_flags = False
        self.steps = 0
        self.includes = 0
        self.include_depth = 0
        self.header_edits = 0
        self.redirects = 0
        # what extensions keep per run (e.g. duplicate's trackings, vacation seen)
        self.state: dict[str, object] = {}
        self.global_names: set[str] = set()  # names declared "global" (RFC 6609 §3.3)
        # installed by the variables extension when the script requires it (RFC 5229)
        self.expander: ExpandFn | None = None
        self._cpu_deadline = time.process_time() + limits.max_cpu_ms / 1000.0
        # the step count at which ``check`` runs next (the interpreter counts steps inline
        # and calls it only then: the budget costs one comparison per step)
        self.check_at = min(CPU_CHECK_EVERY, limits.max_steps + 1)

    # -- budget ---------------------------------------------------------------------------
    def step(self, call: Call) -> None:
        """Count one evaluation; stop the run past ``max_steps`` or its CPU time."""
        self.steps += 1
        if self.steps >= self.check_at:
            self.check(call)

    def check(self, call: Call) -> None:
        """The budget, checked every CPU_CHECK_EVERY steps and at ``max_steps``."""
        if self.steps > self.limits.max_steps:
            raise SieveLimitExceeded("max_steps", f"more than {self.limits.max_steps} steps",
                                     call.pos.line, call.pos.column)
        if time.process_time() > self._cpu_deadline:
            raise SieveLimitExceeded("max_cpu_ms",
                                     f"more than {self.limits.max_cpu_ms} ms of CPU time",
                                     call.pos.line, call.pos.column)
        self.check_at = min(self.steps + CPU_CHECK_EVERY, self.limits.max_steps + 1)

    def cpu_left(self) -> float:
        """Seconds of CPU budget left (for regex timeouts and the like)."""
        return max(0.0, self._cpu_deadline - time.process_time())

    # -- variables ------------------------------------------------------------------------
    def expand(self, text: str) -> str:
        """``text`` with ``${…}`` substituted when the script required "variables"
        (RFC 5229 §3); unchanged otherwise. The variables extension installs the real
        expansion (``expander``)."""
        if self.expander is None or "${" not in text:
            return text
        return self.expander(self, text)

    def expand_all(self, values: list[str]) -> list[str]:
        """Each of ``values`` expanded; ``values`` itself when nothing needs expanding (so
        callers may cache what they derive from a bound list)."""
        if self.expander is None or not any("${" in v for v in values):
            return values
        return [self.expand(v) for v in values]

    def get_variable(self, name: str) -> str:
        """A variable's value ("" when unset: RFC 5229 §3), global ones included."""
        key = name.lower()
        if key.startswith("global."):  # RFC 6609 §3.4.2 namespace
            return self.global_variables.get(key[7:], "")
        if key in self.global_names:
            return self.global_variables.get(key, "")
        return self.variables.get(key, "")

    def set_variable(self, name: str, value: str, call: Call) -> None:
        key = name.lower()
        limit = self.limits.max_variable_size
        if len(value) * 4 > limit:
            octets = value.encode("utf-8", "surrogateescape")
            if len(octets) > limit:  # RFC 5229 §3: values MAY be truncated
                value = octets[:limit].decode("utf-8", "ignore")
        if key.startswith("global."):  # RFC 6609 §3.4.2 namespace
            key = key[7:]
            target = self.global_variables
        else:
            target = self.global_variables if key in self.global_names else self.variables
        if key not in target and \
                len(self.variables) + len(self.global_variables) >= self.limits.max_variables:
            raise SieveLimitExceeded("max_variables",
                                     f"more than {self.limits.max_variables} variables",
                                     call.pos.line, call.pos.column)
        target[key] = value

    # -- actions --------------------------------------------------------------------------
    def add_action(self, action: Action, call: Call) -> None:
        """Record ``action``; identical fileinto/redirect/keep are done once (RFC 5228
        §2.10.3), keep and fileinto "INBOX" being the same delivery (§4.3: "a keep command
        is equivalent to a fileinto "INBOX""); counts against ``max_actions`` and
        ``max_redirects``."""
        actions = self.result.actions
        if actions:
            _check_conflicts(action, actions, call)
        if isinstance(action, Redirect):
            if any(isinstance(a, Redirect) and a.address.lower() == action.address.lower()
                   for a in actions):
                return
            self.redirects += 1
            if self.redirects > self.limits.max_redirects:
                raise SieveLimitExceeded("max_redirects",
                                         f"more than {self.limits.max_redirects} redirects "
                                         "(number of redirect actions exceeds policy limit "
                                         "max_redirects)",
                                         call.pos.line, call.pos.column)
        elif isinstance(action, FileInto):
            inbox = action.mailbox.upper() == "INBOX"
            key = mailbox_key(action.mailbox)
            for n, a in enumerate(actions):
                if isinstance(a, FileInto) and mailbox_key(a.mailbox) == key:
                    actions[n] = _merged(a, action)
                    return
                if inbox and isinstance(a, Keep):  # keep is fileinto "INBOX" (§4.3)
                    actions[n] = Keep(_last(a.flags, action.flags))
                    return
        elif isinstance(action, Keep | Discard):
            for n, a in enumerate(actions):
                if type(a) is type(action):
                    if isinstance(a, Keep) and isinstance(action, Keep):
                        actions[n] = Keep(_last(a.flags, action.flags))
                    return
                if isinstance(action, Keep) and isinstance(a, FileInto) and \
                        a.mailbox.upper() == "INBOX":
                    actions[n] = FileInto(a.mailbox, _last(a.flags, action.flags), False,
                                          a.create, a.special_use)
                    return
        if len(actions) >= self.limits.max_actions:
            raise SieveLimitExceeded("max_actions",
                                     f"more than {self.limits.max_actions} actions (total "
                                     "number of actions exceeds policy limit max_actions)",
                                     call.pos.line, call.pos.column)
        actions.append(action)

    def cancel_implicit_keep(self) -> None:
        self.result.implicit_keep = False

    def log(self, note: str) -> None:
        self.result.log.append(note)


def mailbox_key(name: str) -> str:
    """A mailbox name as duplicates are found: INBOX in any case is INBOX (RFC 9051 §5.1)."""
    return "INBOX" if name.upper() == "INBOX" else name


_DELIVERING = Keep | FileInto | Redirect | Vacation


def _check_conflicts(action: Action, actions: list[Action], call: Call) -> None:
    """RFC 5429 §2.4: one reject per run; reject with vacation is an error, and with keep,
    fileinto or redirect "NOT RECOMMENDED" — refused here, so a message is either delivered
    or refused, never both (RFC 5321's principle the RFC recalls). A run-time error: the
    implicit keep applies (RFC 5228 §2.10.6)."""
    if isinstance(action, Reject):
        for a in actions:
            if isinstance(a, Reject | _DELIVERING):
                raise SieveRuntimeError(
                    f"{_name(action)} cannot be combined with {_name(a)} in one run "
                    "(RFC 5429 §2.4)", call.pos.line, call.pos.column)
    elif isinstance(action, _DELIVERING):
        for a in actions:
            if isinstance(a, Reject):
                raise SieveRuntimeError(
                    f"{_name(action)} cannot be combined with {_name(a)} in one run "
                    "(RFC 5429 §2.4)", call.pos.line, call.pos.column)


def _name(action: Action) -> str:
    if isinstance(action, Reject):
        return "ereject" if action.extended else "reject"
    return type(action).__name__.lower()


def _last(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """RFC 5232 §3: when duplicate keeps or fileintos are merged, the last flag list wins."""
    return a if b is None else b


def _merged(a: FileInto, b: FileInto) -> FileInto:
    return FileInto(a.mailbox, _last(a.flags, b.flags), a.copy and b.copy,
                    a.create or b.create, a.special_use or b.special_use)


class ExpandFn(Protocol):
    def __call__(self, rt: Runtime, text: str) -> str: ...
