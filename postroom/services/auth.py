"""Logging in, for every front-end: passwords, challenge secrets, SASL mechanisms, throttling.

Front-ends never reach the directory: they ask this service to check credentials, to make a
SASL mechanism (directory/sasl.py, sans I/O), and to record the outcome. The outcome is where
the throttle (directory/throttle.py) and the log lines live, so every protocol waits, punishes
and logs a failed login alike.
"""

from __future__ import annotations

import asyncio
import logging

from postroom.core.principal import Principal
from postroom.directory import sasl
from postroom.directory.service import Directory
from postroom.directory.throttle import AuthThrottle
from postroom.obs.metrics import Metrics
from postroom.services.screening import Offences

log = logging.getLogger("postroom.auth")


class AuthService:
    def __init__(self, directory: Directory, throttle: AuthThrottle,
                 screening: Offences | None = None, metrics: Metrics | None = None) -> None:
        self._directory = directory
        self._metrics = metrics  # logins ok/failed per protocol, next to their log lines
        self._throttle = throttle
        self._screening = screening  # told of every failed login (services/screening.py)
        self._pending: set[asyncio.Task[None]] = set()

    @staticmethod
    def mechanisms(tls: bool, plaintext_ok: bool, channel_binding: bool) -> list[str]:
        """SASL mechanisms to offer: password mechanisms only where passwords may travel,
        ``-PLUS`` only inside TLS with channel-binding data (RFC 5929 §4)."""
        return sasl.mechanism_names(tls, plaintext_ok, channel_binding)

    def mechanism(self, name: str, *, channel_binding: bytes | None, plus_offered: bool,
                  hostname: str = "localhost") -> sasl.Mechanism:
        return sasl.create(name, self._directory, channel_binding=channel_binding,
                           plus_offered=plus_offered, hostname=hostname)

    async def password(self, username: str, password: str) -> Principal | None:
        """A plain user name and password (IMAP LOGIN, POP3 USER/PASS); None when wrong.
        Raises DISABLED for a disabled or frozen account whose password is right."""
        return await self._directory.authenticate(username, password)

    async def web_password(self, username: str, password: str) -> Principal | None:
        """The password step of a web login: the account's own password only (never an app
        password, which would skip the second factor). Raises DISABLED as ``password``."""
        return await self._directory.authenticate(username, password, web=True)

    async def apop(self, username: str, timestamp: str, digest: str) -> Principal | None:
        return await self._directory.apop(username, timestamp, digest)

    async def before(self, ip: str, username: str | None = None) -> None:
        """Before checking credentials: wait as long as this address (and account) earned."""
        await self._throttle.wait(ip, username)

    async def failed(self, protocol: str, ip: str, username: str) -> None:
        """A failed login: logged, counted, and answered no sooner than the throttle says.

        The line's format is stable (docs/fail2ban/ has a filter for it):
        ``… postroom.auth conn=ID login failed protocol=P ip=ADDRESS user=NAME``."""
        log.info("login failed", extra={"protocol": protocol, "ip": ip,
                                        "user": _printable(username) or "-"})
        if self._metrics is not None:
            self._metrics.login(protocol, False)
        if self._screening is not None:
            self._screening.note(ip, "auth", protocol)
        await self._throttle.punish(ip, username or None)

    def succeeded(self, protocol: str, ip: str, principal: Principal) -> None:
        """A successful login: logged, the throttle told, and the account's last login
        recorded in the background (the reply does not wait for that write)."""
        self._throttle.success(ip, principal.address)
        log.info("login", extra={"protocol": protocol, "ip": ip, "user": principal.address})
        if self._metrics is not None:
            self._metrics.login(protocol, True)
        task = asyncio.get_running_loop().create_task(self._note(principal))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _note(self, principal: Principal) -> None:
        try:
            await self._directory.note_login(principal)
        except Exception:
            log.exception("cannot record the login of %s", principal.address)


def _printable(name: str) -> str:
    """A user name as a log may show it: printable, one line, at most 100 characters (a
    client chooses it, and must not be able to forge log lines with it)."""
    return "".join(c if c.isprintable() else "?" for c in name[:100])
