"""Running a bound script: control flow here, everything else in the extensions' handlers.

RFC 5228 §3.1 (if/elsif/else), §3.3 (stop), §2.10.2 (implicit keep), §2.10.6 (a run-time
error means the implicit keep and nothing else). Tests are evaluated lazily left to right
(``allof`` stops at the first false, ``anyof`` at the first true: §5.2, §5.3 leave the order
to us; short-circuiting keeps the CPU budget for the tests that matter).
"""

from __future__ import annotations

from collections.abc import Callable

from postroom.sieve.actions import Keep
from postroom.sieve.bind import BoundScript, Call
from postroom.sieve.errors import SieveRuntimeError
from postroom.sieve.limits import Limits
from postroom.sieve.message import Message
from postroom.sieve.registry import TestHandler
from postroom.sieve.runtime import Environment, Result, Return, Runtime, Stop


async def execute(script: BoundScript, message: Message, env: Environment,
                  limits: Limits) -> Result:
    """Run ``script`` over ``message``. Never raises for what a script does: a run-time
    error or a limit ends in ``Result.error`` with the implicit keep only."""
    rt = Runtime(script, message, env, limits)
    return await run(rt, script)


async def run(rt: Runtime, script: BoundScript) -> Result:
    """Run ``script`` in ``rt`` (a fresh Runtime: ``execute``; the test harness reuses one)."""
    for hook in _setup_hooks(rt):
        hook(rt)
    try:
        await block(rt, script.commands)
    except (Stop, Return):
        pass
    except SieveRuntimeError as exc:
        rt.result.error = exc
        rt.result.actions = []
        rt.result.implicit_keep = True
        rt.result.keep_flags = None
        return rt.result
    if rt.result.implicit_keep and rt.uses_flags:
        rt.result.keep_flags = tuple(rt.flags)
    if any(isinstance(a, Keep) for a in rt.result.actions):
        rt.result.implicit_keep = False
    return rt.result


def _setup_hooks(rt: Runtime) -> list[SetupHook]:
    return [h for cap, h in SETUP.items() if cap in rt.required]


async def block(rt: Runtime, calls: list[Call]) -> None:
    """Run a block's commands in order (if/elsif/else chained)."""
    taken = False  # whether the current if-chain already ran a branch
    for call in calls:
        rt.steps += 1  # Runtime.step, inline: this is the interpreter's hottest line
        if rt.steps >= rt.check_at:
            rt.check(call)
        name = call.name
        if name == "if":
            taken = await test(rt, call.tests[0])
            if taken:
                assert call.block is not None
                await block(rt, call.block)
            continue
        if name == "elsif":
            if not taken:
                taken = await test(rt, call.tests[0])
                if taken:
                    assert call.block is not None
                    await block(rt, call.block)
            continue
        if name == "else":
            if not taken:
                assert call.block is not None
                await block(rt, call.block)
            taken = True
            continue
        handler = call.definition.handler
        assert handler is not None, f"{name} has no handler"
        await handler(rt, call)


async def test(rt: Runtime, call: Call) -> bool:
    """Evaluate one test (allof/anyof/not are ordinary tests whose handlers call this)."""
    rt.steps += 1
    if rt.steps >= rt.check_at:
        rt.check(call)
    handler: TestHandler = call.definition.handler  # type: ignore[assignment]
    return await handler(rt, call)


# Called at the start of a run for each required capability that registered one (the
# variables extension installs its expander, imap4flags turns the internal variable on).
SetupHook = Callable[[Runtime], None]
SETUP: dict[str, SetupHook] = {}
