"""A command's answer that is a long wait (Ping; MS-ASCMD §2.2.1.13): returned by the command
instead of awaited inside it, so that app.py awaits it after the command's frames returned.

Every frame of a coroutine keeps its locals until it returns: a command that awaited its wait
itself would hold, for the whole heartbeat (up to an hour, on every phone at once), the
request's body and its decoded element tree, the request object and the command context,
through the frames of ``EasApp.answer``, ``dispatch`` and the command. A ``LongPoll`` holds
only what the wait needs (issue 25: server memory per waiting device).
"""

from __future__ import annotations

from postroom.protocols.eas.element import Element


class LongPoll:
    """The wait, already begun: ``run`` waits and answers; ``close`` releases what it holds
    (idempotent; called whether ``run`` ran, failed or never started)."""

    __slots__ = ("who",)

    def __init__(self) -> None:
        # (command, address, device id) for the log when the wait fails; app.py sets it
        self.who: tuple[str, str, str] = ("", "", "")

    async def run(self) -> Element:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
