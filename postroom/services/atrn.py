"""ATRN providers: where we collect our own domains' mail by ODMR (RFC 2645), and when.

Administration (checked here, audited by services/admin) and what the scheduler needs of the
store (which providers are due, the outcome of a run) live here; the collection itself is a
network exchange (mta/atrn.py, protocols/smtp/odmr.py). The password is sealed at rest
(directory/secretbox.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from postroom.core.address import normalize_domain
from postroom.core.errors import invalid, not_found
from postroom.core.records import ProviderRec
from postroom.directory.secretbox import SecretBox
from postroom.store.sqlstore import SqlStore

TLS_MODES = ("starttls", "implicit", "none")
DEFAULT_PORT = 366  # RFC 2645 §3
MIN_INTERVAL = 30
PURPOSE = "atrn"


class AtrnProviders:
    def __init__(self, store: SqlStore, secrets: SecretBox) -> None:
        self._repo = store.gateways
        self._secrets = secrets

    # -- administration -----------------------------------------------------------------------
    async def add(self, name: str, *, host: str, username: str, password: str,
                  domains: Sequence[str] = (), tls: str = "starttls", port: int | None = None,
                  tls_verify: bool = True, interval: int = 600, enabled: bool = True,
                  ) -> ProviderRec:
        if not name or any(c.isspace() for c in name):
            raise invalid("name: one word, e.g. the provider's host name")
        fields = self._fields(host=host, username=username, tls=tls, port=port,
                              interval=interval, domains=domains)
        fields.update(password=self._seal(password), tls_verify=tls_verify, enabled=enabled,
                      next_run=0)
        return await self._repo.add_provider(name, fields)

    async def update(self, name: str, *, password: str | None = None,
                     host: str | None = None, username: str | None = None,
                     tls: str | None = None, port: int | None = None,
                     interval: int | None = None, domains: Sequence[str] | None = None,
                     tls_verify: bool | None = None, enabled: bool | None = None,
                     ) -> ProviderRec:
        """Change what is given (None = keep), checked as ``add`` checks; runs soon after."""
        cur = await self.one(name)
        fields = self._fields(host=host or cur.host, username=username or cur.username,
                              tls=tls or cur.tls, port=cur.port if port is None else port,
                              interval=cur.interval_s if interval is None else interval,
                              domains=cur.domain_list if domains is None else domains)
        if tls_verify is not None:
            fields["tls_verify"] = tls_verify
        if enabled is not None:
            fields["enabled"] = enabled
        if password is not None:
            fields["password"] = self._seal(password)
        fields.update(next_run=0, failures=0)
        return await self._repo.update_provider(name, fields)

    def _seal(self, password: str) -> str:
        if not password or any(c in password for c in "\r\n\0"):
            raise invalid("password: give the provider password (no line breaks)")
        return self._secrets.seal(password, PURPOSE)

    @staticmethod
    def _fields(*, host: str, username: str, tls: str, port: int | None, interval: int,
                domains: Sequence[str]) -> dict[str, object]:
        if not host or any(c.isspace() for c in host):
            raise invalid("host: give the provider's host name or address")
        if not username or any(c.isspace() for c in username):
            raise invalid("user: give the login the provider gave you")
        if tls not in TLS_MODES:
            raise invalid(f"tls: one of {', '.join(TLS_MODES)}")
        port = DEFAULT_PORT if port is None else port
        if not 1 <= port <= 65535:
            raise invalid("port: 1 to 65535")
        if interval < MIN_INTERVAL:
            raise invalid(f"interval: at least {MIN_INTERVAL} seconds")
        clean = [normalize_domain(d) for d in domains]
        return {"host": host.strip().lower(), "username": username, "tls": tls, "port": port,
                "interval_s": interval, "domains": ",".join(clean)}

    async def providers(self) -> list[ProviderRec]:
        return await self._repo.providers()

    async def one(self, name: str) -> ProviderRec:
        rec = await self._repo.provider(name)
        if rec is None:
            raise not_found(f"no ATRN provider {name}")
        return rec

    async def remove(self, name: str) -> None:
        await self._repo.remove_provider(name)

    # -- what the scheduler needs ---------------------------------------------------------------
    def password(self, rec: ProviderRec) -> str:
        """The provider password, opened (SecretError: wrong key file)."""
        return self._secrets.open(rec.password, PURPOSE)

    async def due(self, now: int) -> list[ProviderRec]:
        return await self._repo.due_providers(now)

    async def record_run(self, name: str, *, ok: bool, error: str, received: int,
                         next_run: int) -> None:
        await self._repo.record_run(name, ok=ok, error=error, received=received,
                                    next_run=next_run)
