"""Webmail tests: a real server with the public HTTPS listener (webmail), SMTP and IMAP, and
helpers to make accounts, deliver mail and log in (over HTTP with ``WebClient``, or in Debian's
Chromium with Playwright).

    mail = Webmail(server)                     # tests/webmail/conftest.py gives ``mail``
    alice = mail.account("alice@example.test")
    mail.deliver(alice, subject="Hi", body="...")  # over SMTP (port 25 listener)
    web = mail.client(alice)                   # a logged-in WebClient (webmail realm)
    context, page = mail.browser(alice)        # a logged-in Playwright context and page
"""

from __future__ import annotations

import imaplib
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from postroom.core.actor import Actor
from tests.support.server import RunningServer
from tests.support.web import WebClient

WEBMAIL = ["web.https.enabled=true", "web.https.port=0", "smtp.mx.enabled=true",
           "smtp.mx.port=0", "smtp.submission.enabled=true", "smtp.submission.port=0",
           "server.listen=[\"127.0.0.1\"]"]
PASSWORD = "pw-webmail-123456"


class Webmail:
    def __init__(self, server: RunningServer, browser: Any = None) -> None:
        self.server = server
        self.browser_engine = browser
        self.port = server.port("https")
        self.base = f"https://127.0.0.1:{self.port}"
        self.states: dict[str, Any] = {}

    def account(self, address: str, password: str = PASSWORD) -> str:
        """Create ``address`` (its domain too) with its default folders; idempotent."""
        services = self.server.services

        async def make() -> None:
            if await services.store.directory.get_account(address) is not None:
                return
            domain = address.rsplit("@", 1)[1]
            if not await services.directory.is_local_domain(domain):
                await services.admin.domains.add(Actor.operator(), domain)
            rec = await services.directory.add_account(address, password)
            await services.mailboxes.ensure_defaults(rec.id, rec.domain_id)
        self.server.call(make())
        return address

    def deliver(self, to: str, *, subject: str = "Hello", body: str = "Hello there.",
                sender: str = "someone@remote.test", message: bytes | None = None) -> None:
        """Deliver one message to ``to`` over SMTP (the MX listener), as the outside would."""
        if message is None:
            msg = EmailMessage()
            msg["From"] = sender
            msg["To"] = to
            msg["Subject"] = subject
            msg.set_content(body)
            message = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
        with smtplib.SMTP("127.0.0.1", self.server.port("smtp"), timeout=20) as smtp:
            smtp.sendmail(sender, [to], message)

    def imap(self, address: str, password: str = PASSWORD) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.server.port("imap"), timeout=20)
        client.starttls(ssl_context=_insecure())
        client.login(address, password)
        return client

    def client(self, address: str, password: str = PASSWORD) -> WebClient:
        """A WebClient logged in to webmail as ``address``."""
        web = WebClient(self.port)
        web.login(address, password)
        return web

    def context(self, **options: Any) -> Any:
        assert self.browser_engine is not None, "this module has no browser fixture"
        return self.browser_engine.new_context(ignore_https_errors=True, base_url=self.base,
                                               **options)

    def login(self, page: Any, address: str, password: str = PASSWORD) -> None:
        page.goto("/login")
        page.get_by_label("User name (your address)").fill(address)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/webmail/f/**")

    def browser(self, address: str, **options: Any) -> tuple[Any, Any]:
        """A new browser context and page logged in as ``address`` (through the login page
        once per module; later contexts reuse the session cookie)."""
        if address not in self.states:
            context = self.context()
            self.login(context.new_page(), address)
            self.states[address] = context.storage_state()
            context.close()
        context = self.context(storage_state=self.states[address], **options)
        return context, context.new_page()


def _insecure() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
