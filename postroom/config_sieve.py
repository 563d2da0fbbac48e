"""Configuration of Sieve filtering and ManageSieve (``[sieve]``).

Kept apart from config.py so that Sieve's keys sit together; docs/sieve.md explains them.
Every limit of the interpreter (postroom/sieve/limits.py) is a key here with the same default;
``limits()`` builds the interpreter's Limits from them.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from postroom.config_base import Port, ServiceConfig
from postroom.sieve.limits import Limits


def _d(text: str) -> Meta:
    return Meta(description=text)


class ManageSieveListener(ServiceConfig, kw_only=True, forbid_unknown_fields=True):
    """ManageSieve (RFC 5804) on 4190: STARTTLS, then the same SASL as IMAP."""

    port: Port = 4190


class VacationConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Vacation replies (RFC 5230, RFC 6131; RFC 3834 for whom not to answer)."""

    min_seconds: Annotated[int, _d(
        "Shortest period between two replies to one sender that a script may ask for "
        "(:days/:seconds below it are raised to it; RFC 6131 §2 allows a site minimum)."),
                           Meta(ge=0)] = 3600
    max_seconds: Annotated[int, _d(
        "Longest such period (RFC 5230 §4.1: sites may cap :days)."), Meta(ge=1)] = \
        90 * 86400
    default_seconds: Annotated[int, _d(
        "The period when the script names none (RFC 5230 §4.1: 7 days)."), Meta(ge=1)] = \
        7 * 86400


class SieveConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: Annotated[bool, _d(
        "Run users' and administrators' Sieve scripts at delivery.")] = True
    managesieve: ManageSieveListener = msgspec.field(default_factory=ManageSieveListener)
    extensions: Annotated[list[str], _d(
        "Capabilities scripts may require; empty = every one Postroom implements "
        "(docs/sieve.md lists them).")] = msgspec.field(default_factory=list)
    fileinto_right: Annotated[Literal["p", "i"], _d(
        "The right a script's owner needs on a folder to file into it: 'i' (insert, as "
        "IMAP APPEND) or 'p' (post, as delivery to a shared folder's address). The owner of "
        "a folder always has both.")] = "i"
    srs_secret: Annotated[str, _d(
        "Secret for the Sender Rewriting Scheme of redirected mail (hex or text); empty = "
        "one is generated at first start and kept in the data directory.")] = ""
    srs_max_age_days: Annotated[int, _d(
        "Days an SRS address stays valid for bounces."), Meta(ge=1, le=365)] = 21
    vacation: VacationConfig = msgspec.field(default_factory=VacationConfig)
    duplicate_default_seconds: Annotated[int, _d(
        "How long the duplicate test remembers a message when the script says nothing "
        "(RFC 7352 §3: a site default)."), Meta(ge=1)] = 7 * 86400
    duplicate_max_seconds: Annotated[int, _d(
        "Longest memory a script may ask of duplicate."), Meta(ge=1)] = 30 * 86400
    max_script_size: Annotated[int, _d(
        "Octets of one script."), Meta(ge=256, le=1024 * 1024)] = 64 * 1024
    max_scripts: Annotated[int, _d(
        "Scripts one user may store."), Meta(ge=1, le=1000)] = 32
    max_nesting: Annotated[int, _d(
        "Nesting of blocks and tests."), Meta(ge=4, le=256)] = 32
    max_actions: Annotated[int, _d(
        "Actions one run may take."), Meta(ge=1, le=1000)] = 32
    max_redirects: Annotated[int, _d(
        "Redirects per message and run."), Meta(ge=0, le=100)] = 4
    max_cpu_ms: Annotated[int, _d(
        "CPU milliseconds one run may use (regular expressions included)."),
                          Meta(ge=1, le=10000)] = 200
    max_steps: Annotated[int, _d(
        "Commands and tests evaluated in one run."), Meta(ge=100)] = 100_000
    max_includes: Annotated[int, _d(
        "Include commands executed in one run."), Meta(ge=0, le=100)] = 10
    max_include_depth: Annotated[int, _d(
        "Nesting of included scripts."), Meta(ge=1, le=20)] = 5
    max_variables: Annotated[int, _d(
        "Variables one run may hold (RFC 5229 §3: at least 128)."), Meta(ge=128)] = 256
    max_variable_size: Annotated[int, _d(
        "Octets of one variable's value (RFC 5229 §3: at least 4000)."),
                                 Meta(ge=4000)] = 4096
    max_header_edits: Annotated[int, _d(
        "addheader/deleteheader executed in one run."), Meta(ge=0)] = 64
    max_body_size: Annotated[int, _d(
        "Octets of a message the body test reads."), Meta(ge=1024)] = 1024 * 1024

    def limits(self) -> Limits:
        """The interpreter's limits from this configuration."""
        return Limits(
            max_script_size=self.max_script_size, max_scripts=self.max_scripts,
            max_nesting=self.max_nesting, max_actions=self.max_actions,
            max_redirects=self.max_redirects, max_cpu_ms=self.max_cpu_ms,
            max_steps=self.max_steps, max_includes=self.max_includes,
            max_include_depth=self.max_include_depth, max_variables=self.max_variables,
            max_variable_size=self.max_variable_size,
            max_header_edits=self.max_header_edits, max_body_size=self.max_body_size)
