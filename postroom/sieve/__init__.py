"""Sieve, the mail filtering language (RFC 5228 and its extensions), as a pure library.

No I/O here: compiling checks a script (``compile_script``: parse, then bind against the
registry of extensions, refusing with line and column), running it (``execute``) collects the
actions; the world outside the message (folders, metadata, duplicate tracking, included
scripts, the clock) is reached through the ``Environment`` the caller passes. The delivery
service (postroom/services/sieve/) is the caller at delivery; ManageSieve, the API, the CLI
and webmail store scripts through the script service, which compiles them here first.

Layout: parser.py (RFC 5228 §8 grammar) → ast.py; registry.py (extensions) + bind.py
(validation) → bound calls; interp.py (control flow) + runtime.py (state, limits) +
match.py (comparators, match types); ext/ (one module per capability); actions.py (what a
run decides); message.py (the message as scripts see it); limits.py.
"""

from __future__ import annotations

from collections.abc import Collection

# registers every extension (registry.py); before anything binds or lists capabilities
import postroom.sieve.ext  # noqa: F401
from postroom.sieve.bind import BoundScript
from postroom.sieve.bind import bind as _bind
from postroom.sieve.limits import DEFAULT, Limits
from postroom.sieve.parser import parse
from postroom.sieve.registry import capabilities

__all__ = ["BoundScript", "Limits", "capabilities", "compile_script"]


def compile_script(source: str | bytes, *, limits: Limits = DEFAULT,
                   enabled: Collection[str] | None = None, name: str = "") -> BoundScript:
    """Parse and validate ``source``; raises SieveSyntaxError with line and column."""
    return _bind(parse(source, limits), limits=limits, enabled=enabled, name=name)
