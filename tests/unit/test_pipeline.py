"""The delivery pipeline's contract, and each built-in check alone (services/pipeline).

The checks named ``Allow``, ``Junk``, ``Later`` and ``Note`` below are plug-ins written for
these tests, as a spam or greylisting check will be written: they implement the ``Check``
protocol and are judged by the real ``Pipeline``.
"""

from __future__ import annotations

import asyncio

import pytest

from postroom.core.envelope import Stage
from postroom.core.errors import Kind, MailError
from postroom.services.pipeline import (
    CONTINUE,
    Client,
    Judgement,
    Message,
    Pipeline,
    Verdict,
    has_bare_newline,
    header_section,
)
from postroom.services.pipeline.checks import MAX_HOPS, LoopCheck, SizeCheck, SmugglingCheck

CONTENT = frozenset({Stage.CONTENT})


def msg(head: bytes = b"Subject: x\r\n", size: int = 10) -> Message:
    return Message(Client("192.0.2.1"), "a@example.net", ["b@example.com"], head=head,
                   size=size)


def judge(check: object, message: Message, stage: Stage = Stage.CONTENT) -> Judgement:
    return asyncio.run(check.judge(stage, message))  # type: ignore[attr-defined]


class Fixed:
    """A check that always says the same."""

    def __init__(self, name: str, judgement: Judgement,
                 stages: frozenset[Stage] = CONTENT) -> None:
        self.name, self.stages, self.judgement = name, stages, judgement
        self.calls = 0

    async def judge(self, stage: Stage, message: Message) -> Judgement:
        self.calls += 1
        return self.judgement


def run(pipeline: Pipeline, message: Message, stage: Stage = Stage.CONTENT) -> None:
    asyncio.run(pipeline.judge(stage, message))


def test_size_check() -> None:
    assert judge(SizeCheck(100), msg(size=100)) == CONTINUE
    for m in (msg(size=101), Message(Client("x"), "", too_big=True, size=5)):
        j = judge(SizeCheck(100), m)
        assert (j.verdict, j.kind) == (Verdict.REJECT, Kind.LIMIT)


def test_smuggling_check() -> None:
    assert judge(SmugglingCheck(), msg()) == CONTINUE
    m = msg()
    m.bare_newline = True
    j = judge(SmugglingCheck(), m)
    assert (j.verdict, j.kind) == (Verdict.REJECT, Kind.INVALID)
    assert has_bare_newline(b"a\r\nb\nc") and has_bare_newline(b"a\rb\r\n")
    assert not has_bare_newline(b"a\r\nb\r\n")


def test_loop_check() -> None:
    below = b"Received: from x\r\n" * (MAX_HOPS - 1) + b"Subject: y\r\n"
    assert judge(LoopCheck(), msg(below)) == CONTINUE
    j = judge(LoopCheck(), msg(b"received: from x\r\n" * MAX_HOPS))
    assert (j.verdict, j.kind) == (Verdict.REJECT, Kind.LOOP)


def test_header_section() -> None:
    assert header_section(b"A: 1\r\nB: 2\r\n\r\nbody\r\n") == b"A: 1\r\nB: 2\r\n"
    assert header_section(b"\r\nbody only\r\n") == b""
    assert header_section(b"A: 1\r\n") == b"A: 1\r\n"


def test_checks_run_in_order_and_reject_stops_with_the_kind() -> None:
    first = Fixed("first", CONTINUE)
    no = Fixed("no", Judgement.reject(Kind.CONTENT, "spam"))
    never = Fixed("never", CONTINUE)
    with pytest.raises(MailError) as exc:
        run(Pipeline([first, no, never]), msg())
    assert (exc.value.kind, exc.value.text) == (Kind.CONTENT, "spam")
    assert (first.calls, no.calls, never.calls) == (1, 1, 0)


def test_tempfail_is_always_temporary() -> None:
    later = Fixed("later", Judgement(Verdict.TEMPFAIL, Kind.NO_PERM, "greylisted"))
    with pytest.raises(MailError) as exc:
        run(Pipeline([later]), msg())
    assert (exc.value.kind, exc.value.text) == (Kind.TEMPORARY, "greylisted")


def test_accept_skips_the_rest_quarantine_marks_and_continues() -> None:
    allow = Fixed("allow", Judgement(Verdict.ACCEPT))
    no = Fixed("no", Judgement.reject(Kind.CONTENT, "spam"))
    run(Pipeline([allow, no]), msg())
    assert no.calls == 0
    junk = Fixed("junk", Judgement(Verdict.QUARANTINE, annotations=("X-Spam: yes",)))
    note = Fixed("note", Judgement(Verdict.CONTINUE, annotations=("X-Checked: 1",)))
    m = msg()
    run(Pipeline([junk, note]), m)
    assert m.quarantine and m.annotations == ["X-Spam: yes", "X-Checked: 1"]


def test_a_check_runs_only_at_its_stages() -> None:
    sender_only = Fixed("sender", Judgement.reject(Kind.NO_PERM, "not yours"),
                        frozenset({Stage.SENDER}))
    run(Pipeline([sender_only]), msg(), Stage.CONTENT)
    assert sender_only.calls == 0
    with pytest.raises(MailError):
        run(Pipeline([sender_only]), msg(), Stage.SENDER)


def test_transforms_run_after_the_checks() -> None:
    class Folder:
        name = "folder"

        async def apply(self, message: Message) -> None:
            message.folder = "Newsletters"
            message.annotations.append("X-Filed: Newsletters")

    m = msg()
    p = Pipeline([], [Folder()])
    asyncio.run(p.transform(m))
    assert m.folder == "Newsletters" and m.annotations == ["X-Filed: Newsletters"]
