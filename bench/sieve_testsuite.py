"""A test-only Sieve extension, "vnd.dovecot.testsuite", enough to run Pigeonhole's
conformance files (``.svtest``) with Postroom's interpreter (bench/sieve_conformance.py).

Written from how the files use it (Pigeonhole's src/testsuite describes the commands): a
``test "name" { … }`` block fails when ``test_fail`` runs in it; ``test_set`` changes the
message or its envelope; ``test_script_compile``/``test_script_run`` compile and run another
script of the suite over the current message, into one shared result that the main script's
own actions also go to; ``test_result_action``/``test_error`` match the result's action names
and the last errors; ``test_result_execute`` "delivers" the result into an in-memory mail
store and outbox, which ``test_message :folder``/``:smtp`` read back.

Registered with ``advertised=False``: no script can require it unless the caller names it in
``enabled`` — only the conformance runner does. Nothing in postroom/ imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from postroom.sieve import compile_script, interp
from postroom.sieve.actions import Discard, FileInto, Keep, Redirect, Reject, Vacation
from postroom.sieve.bind import BoundScript, Call
from postroom.sieve.errors import SieveError, SieveRuntimeError, SieveSyntaxError
from postroom.sieve.ext.envelope import path_address
from postroom.sieve.limits import Limits
from postroom.sieve.match import match_values
from postroom.sieve.message import Envelope, Message
from postroom.sieve.registry import (
    ArgKind,
    CommandDef,
    Extension,
    Signature,
    TagSpec,
    TestDef,
    register,
)
from postroom.sieve.runtime import Result, Runtime, Stop

CAPABILITY = "vnd.dovecot.testsuite"
S, SL, N = ArgKind.STRING, ArgKind.STRINGS, ArgKind.NUMBER


class TestFailed(Exception):
    """``test_fail`` ran: the current test block fails."""


@dataclass
class Stored:
    """A message the executed result delivered: its text, envelope and flags."""

    text: bytes
    sender: str
    recipient: str
    flags: tuple[str, ...] = ()


@dataclass
class SuiteEnvironment:
    """The world of one .svtest file: folders, metadata, includable scripts (read from the
    file's directory, as Pigeonhole's testsuite does), duplicate memory, the clock."""

    directory: Path
    limits: Limits
    enabled: set[str]
    mailboxes: set[str] = field(default_factory=lambda: {"INBOX"})
    annotations: dict[tuple[str | None, str], str] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    items: dict[str, str] = field(default_factory=dict)

    async def mailbox_exists(self, name: str) -> bool:
        return name in self.mailboxes

    async def metadata(self, mailbox: str | None, annotation: str) -> str | None:
        return self.annotations.get((mailbox, annotation))

    async def duplicate(self, tracking: str, seconds: int, last: bool) -> bool:
        found = tracking in self.seen
        self.seen.add(tracking)
        return found

    async def include(self, name: str, location: str) -> BoundScript | None:
        folder = "included" if location == "personal" else "included-global"
        path = self.directory / folder / f"{name}.sieve"
        if not path.is_file():
            return None
        return compile_script(path.read_bytes(), limits=self.limits, enabled=self.enabled,
                              name=name)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def user_addresses(self) -> tuple[str, ...]:
        return ()

    def environment(self, item: str) -> str | None:
        return self.items.get(item)


@dataclass
class Suite:
    """The state of one .svtest file's run (kept in the main Runtime's ``state``)."""

    directory: Path
    env: SuiteEnvironment
    limits: Limits
    message_text: bytes = b"From: sender@example.com\r\nTo: recipient@example.org\r\n\r\n"
    sender: str = "sender@example.com"
    recipient: str = "recipient@example.org"
    auth: str = ""
    orig_to: str = ""
    result: Result = field(default_factory=Result)
    script: BoundScript | None = None
    errors: list[str] = field(default_factory=list)
    folders: dict[str, list[Stored]] = field(default_factory=dict)
    outbox: list[Stored] = field(default_factory=list)
    binaries: dict[str, BoundScript] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    passed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    flags: tuple[str, ...] = ()

    def message(self) -> Message:
        data = _crlf(self.message_text)
        end = data.find(b"\r\n\r\n")
        header = data[:end + 4] if end >= 0 else data + b"\r\n\r\n"

        async def load() -> bytes:
            return data

        return Message(header, size=len(data), body=load,
                       envelope=Envelope(self.sender, self.recipient, self.orig_to,
                                         self.auth))

    def run_limits(self) -> Limits:
        """The limits scripts under test run with: the defaults, changed by the
        ``test_config_set`` keys that have a counterpart here."""
        values: dict[str, int] = {}
        for key, field_name, scale in _CONFIG_LIMITS:
            raw = self.config.get(key)
            if raw is not None:
                number = _config_number(raw)
                if number is not None:
                    values[field_name] = number * scale
        return Limits(**values) if values else Limits()


# test_config_set keys with a Limits counterpart: (key, field, multiplier)
_CONFIG_LIMITS = (
    ("sieve_max_actions", "max_actions", 1),
    ("sieve_max_redirects", "max_redirects", 1),
    ("sieve_max_cpu_time", "max_cpu_ms", 1000),
    ("sieve_variables_max_variable_size", "max_variable_size", 1),
    ("sieve_variables_max_value_size", "max_variable_size", 1),
    ("sieve_variables_max_scope_size", "max_variables", 1),
    ("sieve_include_max_nesting_depth", "max_include_depth", 1),
    ("sieve_include_max_includes", "max_includes", 1),
    ("sieve_script_max_size", "max_script_size", 1),
)


def _config_number(raw: str) -> int | None:
    text = raw.strip().lower()
    scale = 1
    for suffix, factor in (("k", 1024), ("m", 1024**2), ("s", 1)):
        if text.endswith(suffix):
            text, scale = text[:-1], factor
    return int(text) * scale if text.isdigit() else None


def _crlf(data: bytes) -> bytes:
    return data if b"\r\n" in data else data.replace(b"\n", b"\r\n")


def suite_of(rt: Runtime) -> Suite:
    suite = rt.state.get("testsuite")
    assert isinstance(suite, Suite), "the testsuite extension needs the conformance runner"
    return suite


def action_name(action: object) -> str:
    """Pigeonhole's names for the result's actions (test_result_action)."""
    if isinstance(action, Keep):
        return "keep"
    if isinstance(action, FileInto):
        return "keep" if action.mailbox.upper() == "INBOX" else "store"
    if isinstance(action, Redirect):
        return "redirect"
    if isinstance(action, Reject):
        return "ereject" if action.extended else "reject"
    if isinstance(action, Vacation):
        return "vacation"
    if isinstance(action, Discard):
        return "discard"
    return type(action).__name__.lower()


# -- commands --------------------------------------------------------------------------------

async def _test(rt: Runtime, call: Call) -> None:
    suite = suite_of(rt)
    name = rt.expand(call.string(0))
    assert call.block is not None
    try:
        await interp.block(rt, call.block)
    except TestFailed as failed:
        suite.failed.append((name, str(failed)))
        return
    except Stop:
        suite.passed.append(name)
        raise
    except SieveRuntimeError as exc:
        suite.failed.append((name, f"run-time error: {exc}"))
        return
    suite.passed.append(name)


async def _test_fail(rt: Runtime, call: Call) -> None:
    raise TestFailed(rt.expand(call.string(0)))


async def _test_set(rt: Runtime, call: Call) -> None:
    suite = suite_of(rt)
    what = rt.expand(call.string(0)).lower()
    value = rt.expand(call.string(1))
    if what == "message":
        suite.message_text = value.encode("utf-8", "surrogateescape")
    elif what == "envelope.from":
        suite.sender = value
    elif what == "envelope.to":
        suite.recipient = value
    elif what == "envelope.auth":
        suite.auth = value
    elif what == "envelope.orig_to":
        suite.orig_to = value
    else:
        rt.set_variable(what, value, call)  # test_set on a variable name
        return
    rt.message = suite.message()


async def _test_config_set(rt: Runtime, call: Call) -> None:
    suite_of(rt).config[rt.expand(call.string(0))] = rt.expand(call.string(1))


async def _test_config_unset(rt: Runtime, call: Call) -> None:
    suite_of(rt).config.pop(rt.expand(call.string(0)), None)


async def _nothing(rt: Runtime, call: Call) -> None:
    return None


async def _test_result_reset(rt: Runtime, call: Call) -> None:
    suite = suite_of(rt)
    suite.result = Result()
    rt.result = suite.result
    rt.flags = []


async def _test_message(rt: Runtime, call: Call) -> None:
    suite = suite_of(rt)
    index = call.number(0)
    if "smtp" in call.tags:
        stored = suite.outbox[index] if 0 <= index < len(suite.outbox) else None
    else:
        folder = folder_name(rt.expand(str(call.tags.get("folder", "INBOX"))))
        messages = suite.folders.get(folder, [])
        stored = messages[index] if 0 <= index < len(messages) else None
    if stored is None:
        raise SieveRuntimeError(f"test_message: no message {index}", call.pos.line,
                                call.pos.column)
    suite.message_text = stored.text
    suite.sender, suite.recipient = stored.sender, stored.recipient
    rt.message = suite.message()
    if "folder" in call.tags:
        rt.flags = list(stored.flags)  # hasflag then reads the stored message's flags


async def _test_message_test(rt: Runtime, call: Call) -> bool:
    """``test_message`` used as a test: true if that message exists (it is then current)."""
    try:
        await _test_message(rt, call)
    except SieveRuntimeError:
        return False
    return True


async def _test_mailbox_create(rt: Runtime, call: Call) -> None:
    suite_of(rt).env.mailboxes.add(folder_name(rt.expand(call.string(0))))


async def _test_mailbox_delete(rt: Runtime, call: Call) -> None:
    suite_of(rt).env.mailboxes.discard(rt.expand(call.string(0)))


async def _test_binary_save(rt: Runtime, call: Call) -> None:
    suite = suite_of(rt)
    if suite.script is not None:
        suite.binaries[rt.expand(call.string(0))] = suite.script


async def _test_binary_load(rt: Runtime, call: Call) -> None:
    suite = suite_of(rt)
    suite.script = suite.binaries.get(rt.expand(call.string(0)))


async def _test_imap_metadata_set(rt: Runtime, call: Call) -> None:
    suite = suite_of(rt)
    mailbox = call.tags.get("mailbox")
    key = (rt.expand(mailbox) if isinstance(mailbox, str) else None,
           rt.expand(call.string(0)))
    suite.env.annotations[key] = rt.expand(call.string(1))


# -- tests -----------------------------------------------------------------------------------

async def _test_script_compile(rt: Runtime, call: Call) -> bool:
    suite = suite_of(rt)
    suite.errors = []
    path = suite.directory / rt.expand(call.string(0))
    try:
        suite.script = compile_script(path.read_bytes(), limits=suite.run_limits(),
                                      enabled=suite.env.enabled, name=path.stem)
    except SieveSyntaxError as exc:
        # every error binding found, then the closing one Pigeonhole's log has
        suite.errors = [e.message for e in exc.errors] + ["script compilation failed"]
        suite.script = None
        return False
    except OSError as exc:
        suite.errors = [f"cannot read {path.name}: {exc.strerror}"]
        suite.script = None
        return False
    return True


async def _test_script_run(rt: Runtime, call: Call) -> bool:
    suite = suite_of(rt)
    suite.errors = []
    if suite.script is None:
        suite.errors = ["no script compiled"]
        return False
    if "append_result" not in call.tags:
        suite.result = Result()
        rt.result = suite.result
    sub = Runtime(suite.script, suite.message(), suite.env, suite.run_limits())
    sub.result = suite.result
    kept = list(suite.result.actions)
    await interp.run(sub, suite.script)
    if sub.result.error is not None:
        suite.errors = [sub.result.error.message]
        suite.result.error = None  # recorded for test_error; the main script goes on
        suite.result.actions = kept if "append_result" in call.tags else []
        return False
    suite.flags = tuple(sub.flags)
    return True


async def _test_multiscript(rt: Runtime, call: Call) -> bool:
    """Scripts run one after the other over the message, the implicit keep carried (as the
    delivery service's chain does); true if every one compiled and ran."""
    suite = suite_of(rt)
    suite.errors = []
    suite.result = Result()
    rt.result = suite.result
    for name in rt.expand_all(call.strings(0)):
        try:
            script = compile_script((suite.directory / name).read_bytes(),
                                    limits=suite.run_limits(), enabled=suite.env.enabled)
        except (SieveSyntaxError, OSError) as exc:
            suite.errors = [str(exc)]
            return False
        keep = suite.result.implicit_keep
        sub = Runtime(script, suite.message(), suite.env, suite.run_limits())
        sub.result = suite.result
        await interp.run(sub, script)
        if sub.result.error is not None:
            suite.errors = [sub.result.error.message]
            suite.result.error = None
            return False
        suite.result.implicit_keep = keep and suite.result.implicit_keep
    return await _execute(rt, suite)


async def _test_error(rt: Runtime, call: Call) -> bool:
    errors = suite_of(rt).errors
    index = call.tags.get("index")
    if isinstance(index, int):
        errors = errors[index - 1:index] if index >= 1 else []
    return match_values(rt, call, errors, call.strings(0))


async def _test_result_action(rt: Runtime, call: Call) -> bool:
    actions = [action_name(a) for a in suite_of(rt).result.actions
               if not isinstance(a, Discard)]
    index = call.tags.get("index")
    if isinstance(index, int):
        actions = actions[index - 1:index] if index >= 1 else []
    return match_values(rt, call, actions, call.strings(0))


async def _test_result_execute(rt: Runtime, call: Call) -> bool:
    return await _execute(rt, suite_of(rt))


async def _execute(rt: Runtime, suite: Suite) -> bool:
    """Carry out the result: keep and fileinto store the message (a missing folder fails
    unless :create), redirect sends it; the implicit keep stores it in INBOX."""
    result = suite.result
    if result.error is not None:
        return False
    text = _crlf(suite.message_text)
    if rt.message.edited:
        body = text[text.find(b"\r\n\r\n") + 4:] if b"\r\n\r\n" in text else b""
        text = rt.message.header_block() + body
    ok = True
    suite.errors = []
    for action in result.actions:
        if isinstance(action, Keep):
            _store(suite, "INBOX", text, action.flags)
        elif isinstance(action, FileInto):
            name = folder_name(action.mailbox)
            if any(not part for part in name.replace(".", "/").split("/")):
                suite.errors.append(f"failed to store into mailbox {name!r}: invalid name")
                ok = False
                continue
            if name not in suite.env.mailboxes and name != "INBOX":
                if not action.create:
                    suite.errors.append(f"failed to store into mailbox {name!r}: mailbox "
                                        "does not exist")
                    ok = False
                    continue
                suite.env.mailboxes.add(name)
            _store(suite, name, text, action.flags)
        elif isinstance(action, Redirect):
            target = path_address(action.address)
            suite.outbox.append(Stored(text, suite.sender,
                                       target.all if target is not None else action.address))
    if result.implicit_keep:
        _store(suite, "INBOX", text, result.keep_flags)
    return ok


def folder_name(name: str) -> str:
    """INBOX is case-insensitive, also as the first level of a name ("Inbox.Junk")."""
    for sep in ("", ".", "/"):
        if name[:5].upper() == "INBOX" and name[5:6] == sep[:1] and (sep or len(name) == 5):
            return "INBOX" + name[5:]
    return name


def _store(suite: Suite, folder: str, text: bytes, flags: tuple[str, ...] | None) -> None:
    suite.folders.setdefault(folder, []).append(
        Stored(text, suite.sender, suite.recipient, tuple(flags or ())))


_MESSAGE = Signature(positional=(N,), tags=(TagSpec("smtp", group="source"),
                                              TagSpec("folder", S, group="source")))
_MATCHING = Signature(positional=(SL,), match=True, comparator=True,
                      tags=(TagSpec("index", N),))

TESTSUITE = register(Extension(
    CAPABILITY,
    commands=(
        CommandDef("test", Signature(positional=(S,), block=True), _test),
        CommandDef("test_fail", Signature(positional=(S,)), _test_fail),
        CommandDef("test_set", Signature(positional=(S, S)), _test_set),
        CommandDef("test_config_set", Signature(positional=(S, S)), _test_config_set),
        CommandDef("test_config_unset", Signature(positional=(S,)), _test_config_unset),
        CommandDef("test_config_reload", Signature(tags=(TagSpec("extension", S),)),
                   _nothing),
        CommandDef("test_result_reset", Signature(), _test_result_reset),
        CommandDef("test_result_print", Signature(), _nothing),
        CommandDef("test_message", _MESSAGE, _test_message),
        CommandDef("test_message_print", Signature(), _nothing),
        CommandDef("test_mailbox_create", Signature(positional=(S,)), _test_mailbox_create),
        CommandDef("test_mailbox_delete", Signature(positional=(S,)), _test_mailbox_delete),
        CommandDef("test_binary_save", Signature(positional=(S,)), _test_binary_save),
        CommandDef("test_binary_load", Signature(positional=(S,)), _test_binary_load),
        CommandDef("test_imap_metadata_set", Signature(
            positional=(S, S), tags=(TagSpec("mailbox", S),)), _test_imap_metadata_set),
    ),
    tests=(
        TestDef("test_script_compile", Signature(positional=(S,)), _test_script_compile),
        TestDef("test_script_run", Signature(tags=(TagSpec("append_result"),)),
                _test_script_run),
        TestDef("test_multiscript", Signature(positional=(SL,)), _test_multiscript),
        TestDef("test_error", _MATCHING, _test_error),
        TestDef("test_result_action", _MATCHING, _test_result_action),
        TestDef("test_result_execute", Signature(), _test_result_execute),
        TestDef("test_message", _MESSAGE, _test_message_test),
    ),
    advertised=False,
))

__all__ = ["CAPABILITY", "SieveError", "Suite", "SuiteEnvironment", "TestFailed",
           "suite_of"]
