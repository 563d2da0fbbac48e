"""Runtime and compile-time limits of the Sieve interpreter (RFC 5228 §10: implementations
should limit what a script can do). Each is configurable (``[sieve]`` in the configuration)
and each is tested; hitting one stops the script, the message is kept (implicit keep) and the
cause is logged."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    max_script_size: int = 64 * 1024  # octets of one script (ManageSieve: QUOTA/MAXSIZE)
    max_scripts: int = 32  # scripts one user may store (RFC 5804 §2.6 QUOTA/MAXSCRIPTS)
    max_nesting: int = 32  # block and test nesting
    max_actions: int = 32  # actions one run may take (RFC 5228 §10)
    max_redirects: int = 4  # redirects per message (RFC 5228 §4.2: limit them)
    max_cpu_ms: int = 200  # CPU time of one run, includes and regexes included
    max_steps: int = 100_000  # commands and tests evaluated in one run
    max_includes: int = 10  # include commands executed in one run (RFC 6609 §3.2)
    max_include_depth: int = 5
    max_variables: int = 256  # variables one run may hold (RFC 5229 §3: at least 128)
    max_variable_size: int = 4096  # octets of one variable value (RFC 5229 §3: at least 4000)
    max_header_edits: int = 64  # addheader/deleteheader executed in one run (RFC 5293)
    max_match_values: int = 1024  # header values/string list items one test looks at
    max_body_size: int = 1024 * 1024  # octets of body the body test reads (RFC 5173 §7)


DEFAULT = Limits()
