"""The "reject" and "ereject" extensions (RFC 5429): refuse the message with a reason.

Both cancel the implicit keep (§2.4). ``ereject`` asks for refusal at the SMTP/LMTP level
when still possible (§2.1.1), ``reject`` for a notice to the sender (§2.2, an MDN); the
delivery service decides what it can do (a multi-recipient SMTP transaction forces a DSN,
§2.1.2; a null sender gets nothing, §2.1.2). Conflicts (§2.4: one reject, none with vacation,
keep, fileinto or redirect) are checked by ``Runtime.add_action``.
"""

from __future__ import annotations

from postroom.sieve.actions import Reject
from postroom.sieve.bind import Call
from postroom.sieve.registry import ArgKind, CommandDef, Extension, Signature, register
from postroom.sieve.runtime import Runtime

_SIGNATURE = Signature(positional=(ArgKind.STRING,), names=("reason",))


async def _reject(rt: Runtime, call: Call) -> None:
    rt.add_action(Reject(rt.expand(call.string(0)), extended=False), call)
    rt.cancel_implicit_keep()


async def _ereject(rt: Runtime, call: Call) -> None:
    rt.add_action(Reject(rt.expand(call.string(0)), extended=True), call)
    rt.cancel_implicit_keep()


register(Extension("reject", commands=(
    CommandDef("reject", _SIGNATURE, _reject, action=True),)))
register(Extension("ereject", commands=(
    CommandDef("ereject", _SIGNATURE, _ereject, action=True),)))
