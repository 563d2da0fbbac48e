"""Records of web logins: sessions, TOTP secrets, recovery codes, app passwords.

Values only; the rows are kept by store/repo/logins.py and managed by services/websessions.py,
services/twofactor.py and services/apppasswords.py (docs/web.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Stage = Literal["code", "enrol", "full"]
STAGES: tuple[Stage, ...] = ("code", "enrol", "full")


@dataclass(frozen=True, slots=True)
class SessionRec:
    id_hash: str  # SHA-256 (hex) of the cookie value: the value itself is never stored
    public_id: str  # names the session in lists and in "end this session"
    realm: str
    account_id: int
    stage: Stage
    password_stamp: str  # digest of the account's password hash when the session began
    ip: str
    user_agent: str
    created_at: int
    last_seen: int
    attempts: int  # wrong second-factor codes during the "code" stage


@dataclass(frozen=True, slots=True)
class TotpRec:
    account_id: int
    secret: str  # sealed (directory/secretbox.py)
    created_at: int
    confirmed_at: int | None  # None while enrolment waits for the first code
    last_step: int  # the newest time step accepted (a code is never accepted twice)


@dataclass(frozen=True, slots=True)
class AppPasswordRec:
    id: int
    account_id: int
    name: str
    hint: str  # the first characters of the password, to pick the row at login
    password_hash: str  # argon2id
    created_at: int
    last_used: int | None


@dataclass(frozen=True, slots=True)
class LoginFactors:
    """What a mail login needs to know beyond the account row, read in one transaction."""

    two_factor: bool  # a confirmed TOTP secret
    app_passwords: tuple[AppPasswordRec, ...]
