"""Certificates without effort: obtain, renew and swap in the server's certificate.

``CertificateManager`` runs inside ``postroom serve`` (server.py starts it when
``acme.enabled``). It checks at start and every ``acme.check_interval``:

- which names the certificate must cover (``wanted_names``): the host name, for every mail
  domain ``mail.``, ``autoconfig.`` and ``autodiscover.`` (``acme.domains_auto``), and
  ``acme.names``;
- whether the live certificate (files.py) covers them and is further than
  ``acme.renew_before_days`` from expiry, or whether ``postroom acme renew`` asked for one.

When a new certificate is needed it runs one issuance (RFC 8555 §7.4) in a worker thread,
answering the challenges through the shared ChallengeStore (challenges.py), writes the result
atomically and calls ``install``, which loads it into the server's one SSLContext (the same
way a SIGHUP reload does): the next handshake on every listener, mail and web, gets it, and
connections already open keep the session they have.

Failure leaves the live certificate in place, is logged with the CA's reason and recorded in
``state.json`` (``postroom acme status``); the next attempt waits ``acme.retry_min`` seconds,
doubled after each further failure up to ``acme.retry_max``, so a broken setup does not run
into the CA's rate limits. When only some names fail validation (say ``autoconfig.<domain>``
has no DNS record pointing here), one more order is placed at once without them, so the host
name still gets its certificate; the dropped names are logged and tried again at each check
(``acme.check_interval``), and no certificate is ordered when the rest is already covered by
the live one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from postroom import __version__
from postroom.config_acme import AcmeConfig
from postroom.services.acme.challenges import ChallengeStore
from postroom.services.acme.client import (
    AcmeClient,
    AcmeError,
    ValidationFailed,
    challenge_error,
    csr_for,
    key_authorization,
)
from postroom.services.acme.files import AcmeFiles, AcmeState, LiveCertificate

log = logging.getLogger("postroom.acme")

DomainLister = Callable[[], Awaitable[list[str]]]
Installer = Callable[[], None]
PER_DOMAIN = ("mail", "autoconfig", "autodiscover")


def wanted_names(cfg: AcmeConfig, hostname: str, domains: list[str]) -> list[str]:
    """The names the certificate must cover, host name first (it becomes the CN)."""
    names = [hostname]
    if cfg.domains_auto:
        names += [f"{prefix}.{d}" for d in domains for prefix in PER_DOMAIN]
    names += cfg.names
    return list(dict.fromkeys(n.lower().rstrip(".") for n in names if n))


@dataclass(frozen=True, slots=True)
class Decision:
    renew: bool
    reason: str
    wait: float  # seconds until the next check when nothing is done now


def decide(cfg: AcmeConfig, live: LiveCertificate | None, names: list[str],
           state: AcmeState, now: float, requested: bool) -> Decision:
    """Whether to order a certificate now, and why (pure: unit-tested with a fake clock)."""
    if live is None:
        reason = "no ACME certificate yet"
    elif not set(names) <= set(live.names):
        reason = "names not covered: " + ", ".join(sorted(set(names) - set(live.names)))
    elif state.directory and state.directory != cfg.directory_url:
        reason = "acme.directory_url changed (say, from a staging CA to production)"
    elif requested:
        reason = "renewal asked for"
    else:
        left = live.not_after.timestamp() - now
        window = cfg.renew_before_days * 86400
        if left > window:
            return Decision(False, "", min(cfg.check_interval, left - window))
        reason = f"expires in {max(0, int(left // 86400))} days"
    if state.next_attempt > now and not requested:
        return Decision(False, f"{reason}; waiting after failures",
                        min(cfg.check_interval, state.next_attempt - now))
    return Decision(True, reason, 0.0)


def backoff(cfg: AcmeConfig, failures: int) -> float:
    """retry_min, doubled per further failure, at most retry_max."""
    return float(min(cfg.retry_max, cfg.retry_min * 2 ** max(0, min(failures - 1, 30))))


@dataclass
class CertificateManager:
    cfg: AcmeConfig
    files: AcmeFiles
    hostname: str
    domains: DomainLister
    challenges: ChallengeStore
    install: Installer  # loads files.live into the server's SSLContext
    clock: Callable[[], float] = time.time
    # challenge types a listener of ours can answer (http-01: web.http; tls-alpn-01:
    # web.https); a configured type whose listener is off is never offered to the CA
    answerable: frozenset[str] = frozenset({"http-01", "tls-alpn-01"})
    _task: asyncio.Task[None] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def start(self) -> None:
        unusable = [c for c in self.cfg.challenges if c not in self.answerable]
        if unusable:
            log.warning("ACME: no listener answers %s (enable web.http for http-01, "
                        "web.https for tls-alpn-01)", ", ".join(unusable))
        self._task = asyncio.get_running_loop().create_task(self._run())

    def wake(self) -> None:
        """Check now (a reload, or ``postroom acme renew``)."""
        self._wake.set()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                wait = await self.check()
            except Exception:  # the scheduler must outlive any bug in one check
                log.exception("ACME check failed")
                wait = self.cfg.retry_min
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(1.0, wait))

    async def check(self) -> float:
        """One check, and an issuance if needed; returns seconds until the next check."""
        async with self._lock:
            if not self.cfg.enabled:  # switched off by a reload: the server's own cert is back
                return self.cfg.check_interval
            names = wanted_names(self.cfg, self.hostname, await self.domains())
            requested = self.files.request.exists()
            state = self.files.state()
            decision = decide(self.cfg, self.files.current(), names, state, self.clock(),
                              requested)
            if not decision.renew:
                if decision.reason:
                    log.info("ACME: not renewing yet", extra={"reason": decision.reason})
                return decision.wait
            if requested:
                self.files.request.unlink(missing_ok=True)
            log.info("ACME: ordering a certificate", extra={
                "reason": decision.reason, "names": ",".join(names)})
            return await self._attempt(names, state)

    async def _attempt(self, names: list[str], state: AcmeState) -> float:
        state.last_attempt = self.clock()
        state.names = names
        try:
            used, dropped = await asyncio.to_thread(self._issue_sync, names, state)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, AcmeError | OSError | ValueError) else \
                f"{type(exc).__name__}: {exc}"
            state.failures += 1
            state.error = reason
            wait = backoff(self.cfg, state.failures)
            state.next_attempt = self.clock() + wait
            self.files.save_state(state)
            log.warning("ACME: could not obtain a certificate; the current one stays in use",
                        extra={"error": reason, "retry_in": int(wait),
                               "failures": state.failures})
            return wait
        state.failures, state.error, state.next_attempt = 0, "", 0.0
        state.last_success, state.challenge, state.dropped = self.clock(), used, dropped
        if used:
            state.directory = self.cfg.directory_url
        self.files.save_state(state)
        if used:  # a new certificate was written: swap it in
            try:
                self.install()
            except (OSError, ssl.SSLError) as exc:  # checked before writing: should not be
                log.error("ACME: the new certificate cannot be loaded; the old one stays in "
                          "use", extra={"error": str(exc)})
                return self.cfg.retry_min
            live = self.files.current()
            log.info("ACME: new certificate in use on every TLS listener", extra={
                "names": ",".join(live.names if live else []),
                "not_after": live.not_after.isoformat() if live else "-"})
        return self.cfg.check_interval

    # -- one issuance (worker thread) ---------------------------------------------------------
    def _client(self) -> AcmeClient:
        try:
            ctx = ssl.create_default_context(cafile=self.cfg.ca_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise AcmeError(f"acme.ca_file {self.cfg.ca_file}: cannot use it: "
                            f"{getattr(exc, 'strerror', None) or exc}") from None
        return AcmeClient(self.cfg.directory_url, self.files.account_key(), ctx,
                          self.cfg.timeout, f"postroom/{__version__} acme", self._stop)

    def _issue_sync(self, names: list[str], state: AcmeState) -> tuple[str, list[str]]:
        """Order, validate, finalize, download, install the files. Returns (challenge type
        used, names dropped); ("", dropped) when no new certificate was needed after all."""
        client = self._client()
        account = client.register(self.cfg.contact)
        if account != state.account:  # a new account: say whose terms it accepted
            meta = client.directory().get("meta") or {}
            log.info("ACME: account registered, agreeing to the CA's terms of service",
                     extra={"account": account, "terms": meta.get("termsOfService", "-")})
            state.account = account
        try:
            return self._order_sync(client, names), []
        except ValidationFailed as exc:
            rest = [n for n in names if n not in exc.names]
            if not rest or self.hostname not in rest:
                raise
            log.warning("ACME: leaving out names the CA could not validate",
                        extra={"names": ",".join(exc.names), "error": str(exc)})
            live = self.files.current()
            if live is not None and set(rest) <= set(live.names) and \
                    live.not_after.timestamp() - self.clock() > \
                    self.cfg.renew_before_days * 86400:
                return "", exc.names
            return self._order_sync(client, rest), exc.names

    def _order_sync(self, client: AcmeClient, names: list[str]) -> str:
        deadline = time.monotonic() + self.cfg.order_timeout
        order_url, order = client.new_order(names)
        used = ""
        cleanup: list[Callable[[], None]] = []
        failed: dict[str, str] = {}
        try:
            pending = []
            for url in order.get("authorizations") or []:
                authz = client.authorization(str(url))
                if authz.status == "valid":
                    continue  # validated earlier and still fresh (RFC 8555 §7.1.4)
                challenge = self._pick(authz.challenges)
                if challenge is None:
                    offered = ",".join(str(c.get("type")) for c in authz.challenges)
                    usable = [c for c in self.cfg.challenges if c in self.answerable]
                    raise AcmeError(f"{authz.name}: the CA offers no challenge we answer "
                                    f"(offered: {offered}; acme.challenges with a "
                                    f"listener: {','.join(usable) or 'none'})")
                used = str(challenge["type"])
                authz_key = key_authorization(str(challenge["token"]), client.account_key)
                cleanup.append(self._prepare(used, authz.name, str(challenge["token"]),
                                             authz_key))
                client.respond(str(challenge["url"]))
                pending.append(authz)
            for authz in pending:
                body = client.poll(authz.url, {"valid"}, deadline)
                if body.get("status") != "valid":
                    failed[authz.name] = challenge_error(body)
        finally:
            for undo in cleanup:
                undo()
        if failed:
            raise ValidationFailed("; ".join(f"{n}: {why}" for n, why in failed.items()),
                                   list(failed))
        if self._stop.is_set():
            raise AcmeError("the server is stopping")
        key = ec.generate_private_key(ec.SECP256R1())
        client.finalize(order, csr_for(names, key))
        order = client.poll(order_url, {"valid"}, deadline)
        if order.get("status") != "valid" or not order.get("certificate"):
            error = order.get("error") or {}
            raise AcmeError(f"the order failed: {error.get('detail', order.get('status'))}")
        chain = client.download(str(order["certificate"]))
        _check_chain(chain, key, names)
        self.files.install(key, chain)
        return used or "reused-authorizations"

    def _pick(self, offered: list[dict[str, object]]) -> dict[str, object] | None:
        by_type = {str(c.get("type")): c for c in offered}
        for kind in self.cfg.challenges:
            if kind in by_type and kind in self.answerable:
                return by_type[kind]
        return None

    def _prepare(self, kind: str, name: str, token: str, key_authz: str) -> Callable[[], None]:
        """Publish a challenge's answer; returns what takes it away again."""
        if kind == "http-01":
            self.challenges.add_http(token, key_authz)
            return lambda: self.challenges.remove_http(token)
        self.challenges.add_alpn(name, key_authz)
        return lambda: self.challenges.remove_alpn(name)


def _check_chain(chain: bytes, key: ec.EllipticCurvePrivateKey, names: list[str]) -> None:
    """Refuse a download that is not for our key and names, before it replaces anything."""
    try:
        leaf = x509.load_pem_x509_certificates(chain)[0]
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, IndexError, x509.ExtensionNotFound):
        raise AcmeError("the CA's certificate cannot be read") from None
    if leaf.public_key() != key.public_key():
        raise AcmeError("the CA's certificate is not for the key we sent")
    missing = set(names) - set(san.get_values_for_type(x509.DNSName))
    if missing:
        raise AcmeError(f"the CA's certificate lacks {', '.join(sorted(missing))}")


def expiry_text(live: LiveCertificate | None, now: datetime.datetime) -> str:
    if live is None:
        return "none"
    days = (live.not_after - now).total_seconds() / 86400
    return f"{live.not_after.isoformat(timespec='seconds')} ({days:.0f} days)"
