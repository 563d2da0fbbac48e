"""What a server logged, per connection, as the administrator would read it.

``caplog`` hangs off the root logger, which misses ``postroom`` records once anything has
called ``obs.log.setup`` (it stops propagation, as a real server does) and cannot tell which
connection wrote a record. ``ServerLog`` attaches straight to the ``postroom`` and ``asyncio``
loggers, notes the connection id (obs/log.py ``conn_id``) as each record is emitted, on the
server's thread and in the task serving the connection, and keeps the text the production
formatter writes, so a test can look for a traceback exactly where an operator would.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from postroom.obs.log import TextFormatter, conn_id

LOGGERS = ("postroom", "asyncio")


@dataclass(frozen=True, slots=True)
class Logged:
    conn: str  # "-" outside any connection
    record: logging.LogRecord
    text: str  # as TextFormatter writes it, traceback included


class ServerLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(TextFormatter())
        self.entries: list[Logged] = []
        self.guard = threading.Lock()  # the test thread reads while the server's appends

    def emit(self, record: logging.LogRecord) -> None:
        entry = Logged(conn_id.get(), record, self.format(record))
        with self.guard:
            self.entries.append(entry)

    def mark(self) -> int:
        """Where the entries written from now on will start."""
        with self.guard:
            return len(self.entries)

    def since(self, mark: int) -> list[Logged]:
        with self.guard:
            return list(self.entries[mark:])


@contextmanager
def server_log() -> Iterator[ServerLog]:
    """Capture every level of the server's own and asyncio's loggers while in the block."""
    handler = ServerLog()
    saved: list[tuple[logging.Logger, int]] = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
