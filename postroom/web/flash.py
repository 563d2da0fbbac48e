"""Flash messages: the one-line "done" note a page shows after a redirect (post/redirect/get).

The message never travels in the URL: a ``?flash=`` parameter let anyone put text of their
choosing on a page of this origin (``/login?flash=...re-enter your password at evil...``).
``redirect`` puts it in a cookie on the 303 instead, and ``render`` (web/templating.py) shows
it once and clears it. The cookie is ``__Host-postroom-flash``: ``Secure``, ``HttpOnly``,
``SameSite=Strict``, no ``Domain`` (RFC 6265bis §4.1.3.2: only this host, over HTTPS, can set
it; no sibling host and no page script) and lives ``MAX_AGE`` seconds. Its value carries an
HMAC-SHA256 under a key made when the process starts, so a value written by anything else on
this host name (another program on another port shares the cookie jar: cookies ignore ports)
is dropped rather than shown. A restart voids a flash not yet shown, which costs a note only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from base64 import urlsafe_b64decode, urlsafe_b64encode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from postroom.web.session import cookie_header

COOKIE = "__Host-postroom-flash"
MAX_AGE = 60  # seconds: a flash is for the page the redirect leads to, not for later
MAX_TEXT = 500  # characters kept of a message (a cookie holds about 4 KiB)
MAX_VALUE = 3000  # a longer cookie value is not one of ours (500 characters of UTF-8, sealed)
_KEY = secrets.token_bytes(32)


def _b64(raw: bytes) -> str:
    return urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(body: str) -> str:
    return _b64(hmac.new(_KEY, body.encode("ascii"), hashlib.sha256).digest())


def seal(message: str) -> str:
    """The cookie value for ``message``: its UTF-8 in base64url, a dot, the HMAC of that."""
    body = _b64(message[:MAX_TEXT].encode("utf-8"))
    return f"{body}.{_mac(body)}"


def unseal(value: str) -> str:
    """The message of a cookie value; "" when it is not one this process sealed."""
    body, dot, mac = value.partition(".")
    if not dot or len(value) > MAX_VALUE or \
            not hmac.compare_digest(mac.encode("ascii", "replace"),
                                    _mac(body).encode("ascii", "replace")):
        return ""
    try:
        return _unb64(body).decode("utf-8")[:MAX_TEXT]
    except ValueError:
        return ""


def set_flash(response: Response, message: str) -> None:
    """Show ``message`` on the next page this browser loads."""
    if message:
        header = cookie_header(COOKIE, seal(message))
        response.headers.append("set-cookie", f"{header}; Max-Age={MAX_AGE}")


def redirect(url: str, message: str = "") -> RedirectResponse:
    """303 to ``url`` (a page of ours), with ``message`` to show there."""
    response = RedirectResponse(url, 303)
    set_flash(response, message)
    return response


def take(request: Request) -> str:
    """The flash of this request (verified), or ""; ``clear`` then drops the cookie."""
    value = request.cookies.get(COOKIE)
    return unseal(value) if value else ""


def clear(response: Response) -> None:
    response.headers.append("set-cookie", cookie_header(COOKIE, "", expire=True))
