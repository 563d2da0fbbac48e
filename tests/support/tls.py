"""The client TLS context every test uses against a server's self-signed certificate."""

from __future__ import annotations

import ssl


def insecure_context() -> ssl.SSLContext:
    """TLS without certificate checks: the test servers present a self-signed certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
