"""A command's long poll awaited by the ActiveSync app after the command returned
(web/eas/longpoll.py, app.py ``_long_poll``): its answer in WBXML, and a failure during the
wait answered as one inside the command would be (never a 500), the wait released each time."""

from __future__ import annotations

import asyncio
import logging

import pytest

from postroom.core.errors import Kind, MailError
from postroom.protocols.eas import wbxml
from postroom.protocols.eas.element import E, Element
from postroom.web.eas.app import WBXML_TYPE, _long_poll
from postroom.web.eas.longpoll import LongPoll


class _Poll(LongPoll):
    """A long poll that answers ``answer`` or raises ``error`` (the interface app.py awaits)."""

    __slots__ = ("answer", "closed", "error")

    def __init__(self, answer: Element | None = None, error: Exception | None = None) -> None:
        super().__init__()
        self.who = ("Ping", "someone@example.test", "Phone1")
        self.answer, self.error, self.closed = answer, error, 0

    async def run(self) -> Element:
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error
        assert self.answer is not None
        return self.answer

    def close(self) -> None:
        self.closed += 1


def _status(poll: _Poll) -> tuple[int, str]:
    response = asyncio.run(_long_poll(poll))
    assert response.status_code == 200 and response.media_type == WBXML_TYPE
    root = wbxml.decode(bytes(response.body))
    assert poll.closed == 1
    return int(root.value("Status") or 0), root.name


def test_the_answer_is_encoded_and_the_wait_closed() -> None:
    assert _status(_Poll(E("Ping", "Ping", E("Ping", "Status", text=1)))) == (1, "Ping")


def test_a_failure_during_the_wait_is_a_status_not_a_500(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="postroom.eas"):
        assert _status(_Poll(error=RuntimeError("boom"))) == (110, "Ping")
    assert "someone@example.test device Phone1 failed" in caplog.text
    assert caplog.records[-1].exc_info is not None  # with its traceback
    assert _status(_Poll(error=MailError(Kind.TEMPORARY, "busy"))) == (111, "Ping")
    assert _status(_Poll(error=MailError(Kind.NOT_FOUND, "gone"))) == (110, "Ping")
