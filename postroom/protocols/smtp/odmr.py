"""ODMR, On-Demand Mail Relay (RFC 2645; specs.md §5), both sides.

Provider (``OdmrSession``, port 366): the customer of a gateway domain (mta/gateways.py)
connects, says EHLO (we list ``AUTH`` and ``ATRN``), authenticates, and sends
``ATRN [domain[,domain...]]`` (§4). Without a domain list it means every gateway domain the
account may collect. Replies (§4.2, as fetchmail and Exim read them): 530 before AUTH, 450 when
a named domain is not the account's, 451 when the queue cannot be read, 453 when nothing is
waiting, 250 when the roles are about to reverse. After the 250 the customer is the SMTP server
on the same connection (mta/odmr.py delivers). Only EHLO, HELO, AUTH, STARTTLS, ATRN, RSET,
NOOP, HELP and QUIT exist here: mail is never *accepted* on this port (502).

Logins: PLAIN, LOGIN and SCRAM inside TLS. Before TLS nothing, unless
``odmr.auth_without_tls``: then the challenge-response mechanisms CRAM-MD5 (the one fetchmail
uses) and SCRAM-SHA-256, which never send the password.

Customer (``collect``, for ``postroom atrn``): connect to a provider, STARTTLS or implicit TLS
as configured, authenticate, ATRN our domains, and on 250 run an ordinary inbound SMTP session
(the MX rules: only our own domains are accepted) on the same socket, greeting first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import TYPE_CHECKING

from postroom.core.address import normalize_domain
from postroom.core.errors import MailError
from postroom.mta.atrn import AtrnError, Provider
from postroom.mta.client import SmtpClient, SmtpClientError
from postroom.mta.odmr import ConnectionStream, claim, deliver_reversed, release
from postroom.net.connection import Connection
from postroom.net.listener import new_conn_id
from postroom.net.tls import client_context
from postroom.protocols.smtp.session import HANDLERS, Quit, SmtpSession, SmtpSettings

if TYPE_CHECKING:
    from postroom.app import Services
    from postroom.directory.throttle import AuthThrottle
    from postroom.mta.queue import QueueManager

log = logging.getLogger("postroom.odmr")

CHALLENGE_MECHS = ["CRAM-MD5", "SCRAM-SHA-256"]


class OdmrSession(SmtpSession):
    def __init__(self, services: Services, settings: SmtpSettings, conn: Connection,
                 throttle: AuthThrottle, queue: QueueManager | None) -> None:
        super().__init__(services, settings, conn, throttle, queue)
        self.odmr = services.cfg.odmr

    def auth_mechanisms(self) -> list[str]:
        if self.conn.tls or self.plaintext_ok:
            return [*CHALLENGE_MECHS, "PLAIN", "LOGIN"]
        return list(CHALLENGE_MECHS) if self.odmr.auth_without_tls else []

    async def ehlo(self, arg: str) -> None:
        """RFC 2645 §3: the EHLO reply lists AUTH and ATRN."""
        self._greet(arg, esmtp=True)
        lines = [f"{self.settings.hostname} ODMR service greets {self.helo}",
                 "ENHANCEDSTATUSCODES"]
        if not self.conn.tls and self.settings.tls_context is not None:
            lines.append("STARTTLS")
        mechs = self.auth_mechanisms()
        if mechs and self.principal is None:
            lines.append("AUTH " + " ".join(mechs))
        lines.append("ATRN")
        self.reply(250, None, *lines)

    async def auth(self, arg: str) -> None:
        if not self.auth_mechanisms():
            log.info("odmr: AUTH before STARTTLS refused (clients that cannot STARTTLS, such "
                     "as fetchmail, need odmr.auth_without_tls = true)")
        await super().auth(arg)

    async def atrn(self, arg: str) -> None:
        """RFC 2645 §4: authorise the domains, claim their mail, turn the line around."""
        if self.helo is None:
            self.reply(503, "5.5.1", "Send EHLO first")
            return
        if self.principal is None or self.principal.account_id is None:
            self.reply(530, "5.7.0", "Authentication required")
            return
        requested: list[str] = []
        for item in arg.replace(" ", "").split(","):
            if not item:
                continue
            try:
                requested.append(normalize_domain(item))
            except MailError:
                self.reply(501, "5.5.4", f"Not a domain name: {item[:80]}")
                return
        domains, refused = await self.services.gateways.atrn_scope(self.principal.account_id,
                                                                   requested)
        if refused:
            log.warning("odmr: ATRN refused", extra={"user": self.principal.address,
                                                     "domains": ",".join(refused)})
            self.reply(450, "4.7.1", f"ATRN request refused for {', '.join(refused)[:200]}")
            return
        if not domains:
            self.reply(450, "4.7.1", "ATRN request refused: no domains to collect for you")
            return
        if self.queue is None:
            self.reply(451, "4.3.0", "Unable to process ATRN request now")
            return
        try:
            entries = await claim(self.queue, domains)
        except Exception:
            log.exception("odmr: cannot claim queue entries")
            self.reply(451, "4.3.0", "Unable to process ATRN request now")
            return
        if not entries:
            self.reply(453, "4.7.0", "You have no mail")
            return
        log.info("odmr: turning around", extra={"user": self.principal.address,
                                                "domains": ",".join(domains),
                                                "entries": len(entries)})
        try:
            self.reply(250, "2.0.0", "OK now reversing the connection")
            await self.flush()
        except BaseException:
            await release(self.queue, entries)
            raise
        await deliver_reversed(self.queue, self.conn, entries, self.odmr.timeout)
        raise Quit()

    async def not_here(self, arg: str) -> None:
        self.reply(502, "5.5.1", "Not on the ODMR port: authenticate and send ATRN")
        await self._count_bad()


ODMR_HANDLERS = {verb: HANDLERS[verb] for verb in
                 ("EHLO", "HELO", "STARTTLS", "AUTH", "RSET", "NOOP", "HELP", "QUIT")}
ODMR_HANDLERS.update({"ATRN": OdmrSession.atrn,  # type: ignore[dict-item]
                      "EHLO": OdmrSession.ehlo,  # type: ignore[dict-item]
                      "AUTH": OdmrSession.auth})  # type: ignore[dict-item]
for _verb in ("MAIL", "RCPT", "DATA", "BDAT", "VRFY", "EXPN", "ETRN", "TURN"):
    ODMR_HANDLERS[_verb] = OdmrSession.not_here  # type: ignore[assignment]
OdmrSession.handlers = ODMR_HANDLERS


# -- the customer side ---------------------------------------------------------------------------
async def collect(services: Services, provider: Provider, hostname: str,
                  throttle: AuthThrottle, queue: QueueManager | None,
                  timeout: float) -> int:
    """One ATRN collection; returns the messages received. Raises AtrnError."""
    loop = asyncio.get_running_loop()
    conn = Connection(new_conn_id(), asyncio.Event())
    ctx = client_context(provider.tls_verify)
    implicit = provider.tls == "implicit"
    where = f"{provider.host}:{provider.port}"
    try:
        await asyncio.wait_for(loop.create_connection(
            lambda: conn, provider.host, provider.port, ssl=ctx if implicit else None,
            server_hostname=provider.host if implicit else None), timeout)
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        raise AtrnError(f"cannot connect to {where}: {exc or type(exc).__name__}") from None
    try:
        stream = ConnectionStream(conn)
        client = SmtpClient(timeout)
        client.attach(stream, stream, where, implicit)
        try:
            greeting = await client.read_reply()
            if greeting.code != 220:
                raise AtrnError(f"{where} greeted with {greeting}")
            await client.ehlo(hostname)
            if provider.tls == "starttls":
                if "STARTTLS" not in client.features:
                    raise AtrnError(f"{where} does not offer STARTTLS")
                reply = await client.command("STARTTLS")
                if reply.code != 220:
                    raise AtrnError(f"{where} refused STARTTLS: {reply}")
                try:
                    await conn.start_tls(ctx, timeout, server_side=False,
                                         server_hostname=provider.host)
                except (OSError, ssl.SSLError) as exc:
                    raise AtrnError(f"TLS with {where} failed: {exc}") from None
                client.tls = True
                await client.ehlo(hostname)
            if "ATRN" not in client.features:
                raise AtrnError(f"{where} does not offer ATRN")
            reply = await client.auth(provider.username, provider.password)
            if reply.code != 235:
                raise AtrnError(f"{where} refused our login: {reply}")
            reply = await client.command(("ATRN " + ",".join(provider.domains)).strip())
        except SmtpClientError as exc:
            raise AtrnError(str(exc)) from None
        if reply.code == 453:
            with contextlib.suppress(SmtpClientError):
                await client.command("QUIT")
            return 0
        if reply.code != 250:
            raise AtrnError(f"{where} refused ATRN: {reply}")
        # RFC 2645 §4: we are the server now, and we speak first.
        settings = SmtpSettings(hostname, "mx", services.cfg.limits.max_message_size,
                                idle_timeout=timeout)
        session = SmtpSession(services, settings, conn, throttle, queue)
        await session.run()
        return session.accepted
    finally:
        conn.close()
