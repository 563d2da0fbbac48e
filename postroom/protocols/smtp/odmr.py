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

from postroom.core import smtp
from postroom.core.address import normalize_domain
from postroom.core.errors import MailError
from postroom.mta.atrn import AtrnError, Provider
from postroom.mta.client import SmtpClient, SmtpClientError
from postroom.mta.odmr import ConnectionStream, Turnaround
from postroom.net.connection import Connection, LineTooLong
from postroom.net.listener import new_conn_id
from postroom.net.tls import client_context
from postroom.protocols.smtp.session import HANDLERS, Quit, SmtpSession, SmtpSettings
from postroom.services.frontdoor import MailServices

log = logging.getLogger("postroom.odmr")

CHALLENGE_MECHS = ["CRAM-MD5", "SCRAM-SHA-256"]


class OdmrSession(SmtpSession):
    def __init__(self, services: MailServices, settings: SmtpSettings, conn: Connection,
                 turnaround: Turnaround | None, auth_without_tls: bool, timeout: float,
                 ) -> None:
        super().__init__(services, settings, conn)
        self.turnaround = turnaround
        self.auth_without_tls = auth_without_tls
        self.timeout = timeout

    def auth_mechanisms(self) -> list[str]:
        if self.conn.tls or self.plaintext_ok:
            return [*CHALLENGE_MECHS, "PLAIN", "LOGIN"]
        return list(CHALLENGE_MECHS) if self.auth_without_tls else []

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
        self.reply(smtp.HELLO, *lines)

    async def auth(self, arg: str) -> None:
        if not self.auth_mechanisms():
            log.info("odmr: AUTH before STARTTLS refused (clients that cannot STARTTLS, such "
                     "as fetchmail, need odmr.auth_without_tls = true)")
        await super().auth(arg)

    async def atrn(self, arg: str) -> None:
        """RFC 2645 §4: authorise the domains, claim their mail, turn the line around."""
        if self.helo is None:
            self.reply(smtp.BAD_SEQUENCE, "Send EHLO first")
            return
        if self.principal is None or self.principal.account_id is None:
            self.reply(smtp.AUTH_REQUIRED, "Authentication required")
            return
        requested: list[str] = []
        for item in arg.replace(" ", "").split(","):
            if not item:
                continue
            try:
                requested.append(normalize_domain(item))
            except MailError:
                self.reply(smtp.SYNTAX, f"Not a domain name: {item[:80]}")
                return
        domains, refused = await self.services.gateways.atrn_scope(self.principal.account_id,
                                                                   requested)
        if refused:
            log.warning("odmr: ATRN refused", extra={"user": self.principal.address,
                                                     "domains": ",".join(refused)})
            self.reply(smtp.ATRN_REFUSED,
                       f"ATRN request refused for {', '.join(refused)[:200]}")
            return
        if not domains:
            self.reply(smtp.ATRN_REFUSED, "ATRN request refused: no domains to collect for you")
            return
        if self.turnaround is None:
            self.reply(smtp.LOCAL_ERROR, "Unable to process ATRN request now")
            return
        try:
            entries = await self.turnaround.claim(domains)
        except Exception:
            log.exception("odmr: cannot claim queue entries")
            self.reply(smtp.LOCAL_ERROR, "Unable to process ATRN request now")
            return
        if not entries:
            self.reply(smtp.NO_MAIL_WAITING, "You have no mail")
            return
        log.info("odmr: turning around", extra={"user": self.principal.address,
                                                "domains": ",".join(domains),
                                                "entries": len(entries)})
        try:
            self.reply(smtp.OK, "OK now reversing the connection")
            await self.flush()
        except BaseException:
            await self.turnaround.release(entries)
            raise
        await self.turnaround.deliver(self.conn, entries, self.timeout)
        raise Quit()

    async def not_here(self, arg: str) -> None:
        self.reply(smtp.NOT_HERE, "Not on the ODMR port: authenticate and send ATRN")
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
async def collect(services: MailServices, provider: Provider, hostname: str,
                  max_message_size: int, timeout: float) -> int:
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
            if greeting.code != smtp.GREETING.code:
                raise AtrnError(f"{where} greeted with {greeting}")
            await client.ehlo(hostname)
            if provider.tls == "starttls":
                if "STARTTLS" not in client.features:
                    raise AtrnError(f"{where} does not offer STARTTLS")
                reply = await client.command("STARTTLS")
                if reply.code != smtp.READY_FOR_TLS.code:
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
            if reply.code != smtp.AUTH_SUCCEEDED.code:
                raise AtrnError(f"{where} refused our login: {reply}")
            reply = await client.command(("ATRN " + ",".join(provider.domains)).strip())
        except SmtpClientError as exc:
            raise AtrnError(str(exc)) from None
        if reply.code == smtp.NO_MAIL_WAITING.code:
            with contextlib.suppress(SmtpClientError):
                await client.command("QUIT")
            return 0
        if reply.code != smtp.OK.code:
            raise AtrnError(f"{where} refused ATRN: {reply}")
        # RFC 2645 §4: we are the server now, and we speak first.
        settings = SmtpSettings(hostname, "mx", max_message_size, idle_timeout=timeout)
        session = SmtpSession(services, settings, conn)
        try:
            await session.run()
        except LineTooLong as exc:  # the provider flooded us: a failed collection, not a bug
            raise AtrnError(f"{where} sent a line longer than {exc.limit} octets") from None
        return session.accepted
    finally:
        conn.close()
