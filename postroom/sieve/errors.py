"""What can go wrong with a Sieve script, and where (RFC 5228 §2.10.6, §10).

A script is judged twice: when it is stored (ManageSieve PUTSCRIPT/CHECKSCRIPT, the API, the
CLI, webmail) and when it runs at delivery. Compile errors carry the line and column of the
offending token so that every front-end can name them ("line 3, column 5: unknown command
'fileinot'"). Runtime errors stop the script; RFC 5228 §2.10.6 then asks for the implicit keep,
which the delivery service does (the message goes to INBOX and the cause is logged).
"""

from __future__ import annotations


class SieveError(Exception):
    """Base of every Sieve error."""


class SieveSyntaxError(SieveError):
    """The script does not parse or does not validate: refused before it is stored.

    ``line`` and ``column`` count from 1; ``column`` is in characters, not octets."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        # every problem found, this one first: binding goes on after a command in error so
        # that an editor can show them all (the parser stops at its first)
        self.errors: list[SieveSyntaxError] = [self]

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


class SieveRuntimeError(SieveError):
    """The script failed while running (a bad value only known at run time, an action that
    conflicts with another: RFC 5228 §2.10.6, RFC 5429 §2.1). The implicit keep applies."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return f"{where}{self.message}"


class SieveLimitExceeded(SieveRuntimeError):
    """A runtime limit was hit (actions, redirects, CPU time, nesting, variable size):
    the script stops, the implicit keep applies, the cause is logged. ``limit`` names it
    (the Limits field, e.g. ``max_actions``)."""

    def __init__(self, limit: str, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message, line, column)
        self.limit = limit
