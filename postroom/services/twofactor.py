"""TOTP two-factor authentication for web logins (docs/web.md "Two-factor authentication").

An account enrols by scanning a secret (``begin``: sealed at rest with the data directory's
secret.key, directory/secretbox.py) and proving it with a first code (``confirm``); that turns
the second factor on and yields ten recovery codes, shown once and kept as SHA-256 digests
(each is 80 random bits: a digest cannot be reversed by guessing, and one SQL lookup checks a
code). A code is accepted once: the newest accepted time step is stored and a conditional
UPDATE refuses any step not newer (directory/totp.py, RFC 6238 §5.2), so even two requests
racing with the same code cannot both pass. A recovery code is spent the same way.

Who must have it is policy (``web.totp_admins``, ``web.totp_users``); the login pages ask
``policy``. With the second factor on, mail protocols accept only app passwords
(directory/service.py ``authenticate``, ``login.app_passwords_with_2fa``).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from postroom.config_web import WebConfig
from postroom.core.actor import Actor
from postroom.core.errors import Kind, MailError, invalid
from postroom.core.principal import Principal
from postroom.directory import totp
from postroom.directory.secretbox import SecretBox, SecretError
from postroom.services.audit import AuditLog
from postroom.store.repo.logins import LoginsRepo

RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32: 5 bits a character
_RECOVERY_LENGTH = 16  # 80 bits
ENROL_REUSE = 3600  # seconds an unconfirmed secret is shown again instead of a new one
PURPOSE = "totp"  # the SecretBox purpose: a value sealed for another column does not open

Policy = Literal["required", "optional", "off"]
Factor = Literal["totp", "recovery"]


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str  # base32, for typing into an app
    uri: str  # otpauth://, for the QR code


@dataclass(frozen=True, slots=True)
class Status:
    enabled: bool
    recovery_left: int


def recovery_digest(code: str) -> str | None:
    """A typed recovery code as stored (dashes, spaces and case ignored); None when it cannot
    be one."""
    raw = code.replace("-", "").replace(" ", "").lower()
    if len(raw) != _RECOVERY_LENGTH or any(c not in _RECOVERY_ALPHABET for c in raw):
        return None
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4))


class TwoFactor:
    def __init__(self, repo: LoginsRepo, box: SecretBox, audit: AuditLog, cfg: WebConfig,
                 issuer: str, clock: Callable[[], float] = time.time) -> None:
        self._repo = repo
        self._box = box
        self._audit = audit
        self._cfg = cfg
        self.issuer = cfg.totp_issuer or issuer
        self._clock = clock

    def policy(self, principal: Principal) -> Policy:
        """Whether ``principal`` must, may or may not enrol."""
        if principal.global_admin or principal.admin_domain_ids:
            return self._cfg.totp_admins
        return self._cfg.totp_users

    async def enabled(self, account_id: int) -> bool:
        rec = await self._repo.totp(account_id)
        return rec is not None and rec.confirmed_at is not None

    async def status(self, account_id: int) -> Status:
        enabled = await self.enabled(account_id)
        left = await self._repo.recovery_codes_left(account_id) if enabled else 0
        return Status(enabled, left)

    # -- enrolment -----------------------------------------------------------------------------
    async def begin(self, principal: Principal) -> Enrolment:
        """The secret to enrol with: the pending one when it is recent (reloading the page
        must not void a QR code already scanned), else a new one."""
        account_id, address = _account(principal)
        now = int(self._clock())
        rec = await self._repo.totp(account_id)
        if rec is not None and rec.confirmed_at is not None:
            raise MailError(Kind.EXISTS, "two-factor authentication is already on; turn it "
                                         "off first to enrol a new device")
        if self.policy(principal) == "off" and rec is None:
            raise MailError(Kind.NO_PERM, "two-factor authentication is turned off here")
        secret = None
        if rec is not None and now - rec.created_at < ENROL_REUSE:
            secret = self._open(rec.secret)
        if secret is None:
            secret = totp.new_secret()
            if not await self._repo.begin_totp(account_id, self._box.seal(secret, PURPOSE),
                                               now):
                raise MailError(Kind.EXISTS, "two-factor authentication is already on")
        return Enrolment(secret, totp.uri(secret, address, self.issuer))

    async def confirm(self, actor: Actor, code: str) -> list[str]:
        """Prove the enrolment with a first code: the second factor is on, and the recovery
        codes (shown once) are returned. A wrong code raises INVALID."""
        account_id, address = _account(actor.principal)
        rec = await self._repo.totp(account_id)
        if rec is None or rec.confirmed_at is not None:
            raise invalid("there is no enrolment waiting for a code; start again")
        secret = self._open(rec.secret)
        now = int(self._clock())
        step = totp.match(secret, code, now) if secret else None
        if step is None or not await self._repo.use_step(account_id, step, confirm_at=now):
            raise invalid("that code is not right; check the device's clock and try the "
                          "next code")
        codes = await self._new_codes(account_id, now)
        await self._audit.record(actor.principal, actor.origin, "user.2fa.enable", address)
        return codes

    async def _new_codes(self, account_id: int, now: int) -> list[str]:
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
        digests = [recovery_digest(c) for c in codes]
        await self._repo.set_recovery_codes(account_id, [d for d in digests if d], now)
        return codes

    # -- checking ------------------------------------------------------------------------------
    async def verify(self, account_id: int, code: str) -> Factor | None:
        """A code at login: a TOTP code not used before, or an unused recovery code (then
        spent). None when neither."""
        now = int(self._clock())
        rec = await self._repo.totp(account_id)
        if rec is None or rec.confirmed_at is None:
            return None
        secret = self._open(rec.secret)
        step = totp.match(secret, code, now) if secret else None
        if step is not None:
            return "totp" if await self._repo.use_step(account_id, step) else None
        recovery = recovery_digest(code)
        if recovery is not None and await self._repo.use_recovery_code(account_id, recovery,
                                                                        now):
            return "recovery"
        return None

    async def disable(self, actor: Actor, code: str) -> None:
        """Turn the second factor off; needs a current code (or a recovery code). A wrong
        code is AUTH_FAILED, so that the caller counts it as a failed login (the web page
        also asks for the password first: web/auth/selfservice.py ``reauthenticated``)."""
        account_id, address = _account(actor.principal)
        if self.policy(actor.principal) == "required":
            raise MailError(Kind.NO_PERM, "two-factor authentication is required for this "
                                          "account and cannot be turned off")
        if await self.verify(account_id, code) is None:
            raise wrong_code()
        await self._repo.remove_totp(account_id)
        await self._audit.record(actor.principal, actor.origin, "user.2fa.disable", address)

    async def regenerate(self, actor: Actor, code: str) -> list[str]:
        """New recovery codes (the old ones stop working); needs a current code (a wrong one
        is AUTH_FAILED, as for ``disable``)."""
        account_id, address = _account(actor.principal)
        if await self.verify(account_id, code) is None:
            raise wrong_code()
        codes = await self._new_codes(account_id, int(self._clock()))
        await self._audit.record(actor.principal, actor.origin, "user.2fa.recovery-codes",
                                 address)
        return codes

    async def reset(self, account_id: int) -> bool:
        """Remove the second factor (an administrator's reset: services/admin/logins.py)."""
        return await self._repo.remove_totp(account_id)

    def _open(self, sealed: str) -> str | None:
        try:
            return self._box.open(sealed, PURPOSE)
        except SecretError:
            return None  # a replaced key file: no code matches; an administrator resets


def wrong_code() -> MailError:
    """A second-factor code that is not right where the account proves itself again: a
    failed login to count, not bad input."""
    return MailError(Kind.AUTH_FAILED, "that code is not right")


def _account(principal: Principal) -> tuple[int, str]:
    if principal.account_id is None or principal.address is None:
        raise invalid("two-factor authentication is for accounts")
    return principal.account_id, principal.address
