"""Structured logging: ``key=value`` text or JSON lines, each carrying the connection id.

The connection id lives in a ContextVar set by the listener for the task serving that
connection, so every log line written while handling it, in any module, names it without the
id being passed around.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

conn_id: ContextVar[str] = ContextVar("conn_id", default="-")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


def _quoted(text: str) -> str:
    """A value as it is, or JSON-quoted when it holds a space, a quote or anything not
    printable: a value a client chose (a user name, a HELO, a Message-ID) can never start a
    new line or forge another key."""
    if text and text.isprintable() and " " not in text and '"' not in text:
        return text
    return json.dumps(text)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [f"{ts}Z", record.levelname.lower(), record.name, f"conn={conn_id.get()}",
                 record.getMessage()]
        for key, value in _extras(record).items():
            text = str(value)
            parts.append(f"{key}={_quoted(text)}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                                "logger": record.name, "conn": conn_id.get(),
                                "msg": record.getMessage()}
        data.update({k: v if isinstance(v, (int, float, bool)) else str(v)
                     for k, v in _extras(record).items()})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data)


def setup(level: str = "info", fmt: str = "text", file: str = "") -> None:
    handler: logging.Handler = (logging.FileHandler(file) if file
                                else logging.StreamHandler(sys.stderr))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("postroom")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
