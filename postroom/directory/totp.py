"""Time-based one-time passwords (RFC 6238 over HOTP, RFC 4226), sans I/O.

Our own few lines on ``hmac`` rather than a dependency: the algorithm is short and fixed, and
the tests check it against RFC 6238 Appendix B and against an independent implementation
(pyotp). Parameters are the ones every authenticator app understands: SHA-1, 6 digits, a
30-second step (RFC 6238 §4, §5.2), and a window of ±1 step for clock drift and typing time.

``match`` returns the time step a code belongs to; the caller stores the newest accepted step
and refuses a step not newer than it, so a code (and every older one) works once
(RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt of the same OTP").
"""

from __future__ import annotations

import base64
import hmac
import secrets
from urllib.parse import quote, urlencode

DIGITS = 6
PERIOD = 30
WINDOW = 1  # steps accepted on either side of the current one
SECRET_BYTES = 20  # 160 bits, the HMAC-SHA-1 key length RFC 4226 §4 R6 recommends


def new_secret() -> str:
    """A fresh secret in base32 without padding (what otpauth URIs and apps use)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    text = secret.strip().replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(key: bytes, counter: int, digits: int = DIGITS,
         digest: str = "sha1") -> str:
    """RFC 4226 §5.3: HMAC over the 8-octet counter, dynamic truncation, modulo 10^digits."""
    mac = hmac.new(key, counter.to_bytes(8, "big"), digest).digest()
    offset = mac[-1] & 0x0F  # RFC 4226 §5.4
    value = int.from_bytes(mac[offset:offset + 4], "big") & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def step_of(now: float, period: int = PERIOD) -> int:
    """RFC 6238 §4.2: T = floor((now - T0) / X), with T0 = 0."""
    return int(now // period)


def totp(secret: str, now: float, digits: int = DIGITS, digest: str = "sha1") -> str:
    return hotp(_key(secret), step_of(now), digits, digest)


def match(secret: str, code: str, now: float, window: int = WINDOW) -> int | None:
    """The time step within ±``window`` whose code is ``code``, or None. Every candidate is
    compared (in constant time), so the answer's timing does not tell which step matched."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    key = _key(secret)
    current = step_of(now)
    found = None
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(hotp(key, step), code) and found is None:
            found = step
    return found


def uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…`` URI authenticator apps read
    from a QR code (the Key Uri Format that Google Authenticator defined and others follow)."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1",
                       "digits": DIGITS, "period": PERIOD})
    return f"otpauth://totp/{label}?{query}"
