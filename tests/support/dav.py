"""DAV tests: a real server with the public HTTPS listener (CalDAV, CardDAV, the WebDAV file
area under /dav/), SMTP and IMAP, and helpers around real clients.

    dav = Dav(server)                        # tests/dav/conftest.py gives ``dav``
    alice = dav.account("alice@example.test")
    client = dav.caldav(alice)               # the ``caldav`` library's DAVClient (PyPI)
    principal = client.principal()           # discovery from the server URL alone
    dav.request(alice, "PROPFIND", "/dav/", body, {"Depth": "0"})  # raw HTTP, for the rest
"""

from __future__ import annotations

import base64
import http.client
import re
import ssl
from typing import Any

from tests.support.webmail import PASSWORD, WEBMAIL, Webmail

DAV = WEBMAIL


class Dav(Webmail):
    """Webmail's helpers (accounts, SMTP delivery, IMAP) plus DAV clients."""

    def caldav(self, address: str, password: str = PASSWORD, path: str = "/") -> Any:
        """A ``caldav.DAVClient`` for ``address`` given only the server URL (and a path)."""
        import caldav
        return caldav.DAVClient(url=self.base + path, username=address, password=password,
                                ssl_verify_cert=False)

    def collection_href(self, address: str, displayname: str = "Calendar",
                        family: str = "calendars") -> str:
        """The href of ``address``'s collection shown as ``displayname`` in their home
        (Depth 1 PROPFIND, as a client finds it)."""
        body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/>'
                '</D:prop></D:propfind>')
        status, _, out = self.request(address, "PROPFIND", f"/dav/{family}/{address}/", body,
                                      {"Depth": "1"})
        assert status == 207, out
        want = f"<D:displayname>{displayname}</D:displayname>".encode()
        for resp in re.findall(rb"<D:response>.*?</D:response>", out, re.S):
            if want in resp:
                m = re.search(rb"<D:href>([^<]+)</D:href>", resp)
                assert m is not None
                return m.group(1).decode()
        raise AssertionError(out)

    def request(self, address: str | None, method: str, path: str, body: bytes | str = b"",
                headers: dict[str, str] | None = None, password: str = PASSWORD,
                ) -> tuple[int, dict[str, str], bytes]:
        """One raw HTTPS request (status, lower-cased headers, body); ``address`` None sends
        no credentials."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30,
                                           context=_insecure())
        sent = dict(headers or {})
        if address is not None:
            token = base64.b64encode(f"{address}:{password}".encode()).decode()
            sent["Authorization"] = f"Basic {token}"
        data = body.encode() if isinstance(body, str) else body
        if data and "Content-Type" not in sent:
            sent["Content-Type"] = "application/xml; charset=utf-8"
        try:
            conn.request(method, path, body=data, headers=sent)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()


def _insecure() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
