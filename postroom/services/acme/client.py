"""A small RFC 8555 (ACME) client: account, order, authorizations, finalize, download.

Why our own and not certbot's ``acme`` package: that package is synchronous on ``requests``
and brings four more dependencies (``josepy``, ``pyOpenSSL``, ``pyrfc3339``, ``requests``),
pyOpenSSL among them, which pyca itself advises against for new code; the part of RFC 8555 a
server needs for its own certificate is small: ES256 JSON Web Signatures over
``cryptography`` (already ours for every certificate), seven kinds of request, and polling.
Written here it is typed, has no new dependency, and its every step is visible in one file.

The client is synchronous on ``urllib`` and meant to run in a worker thread
(services/acme/manager.py runs a whole issuance in one), so the event loop never waits on the
CA. Every request has a timeout and every poll a deadline.

Protocol notes:
- Every POST is a JWS with the ``nonce`` and ``url`` protected headers (RFC 8555 §6.2); the
  account key is sent as ``jwk`` for newAccount only, ``kid`` (the account URL) after.
- GETs of resources are POST-as-GET: an empty payload (RFC 8555 §6.3).
- A ``badNonce`` error is retried with the fresh nonce it carries (RFC 8555 §6.5).
- Polls honour ``Retry-After`` (RFC 8555 §7.5.1, §7.4), bounded by the deadline.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

MAX_RESPONSE = 1 << 20  # octets read of any CA response (a chain is a few KB)
POLL_MIN, POLL_MAX = 0.5, 10.0  # seconds between polls when the CA gives no Retry-After


class AcmeError(Exception):
    """The CA refused or failed, or answered something we cannot use. ``kind`` is the
    problem type (RFC 8555 §6.7, e.g. ``urn:ietf:params:acme:error:rejectedIdentifier``)."""

    def __init__(self, text: str, kind: str = "") -> None:
        super().__init__(text)
        self.kind = kind


class ValidationFailed(AcmeError):
    """Some authorizations failed: ``names`` are the identifiers the CA would not validate."""

    def __init__(self, text: str, names: list[str]) -> None:
        super().__init__(text, "urn:ietf:params:acme:error:unauthorized")
        self.names = names


def b64u(data: bytes) -> str:
    """base64url without padding (RFC 8555 §6.1, RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """The public key as a JWK (RFC 7518 §6.2.1), members in lexicographic order."""
    numbers = key.public_key().public_numbers()
    return {"crv": "P-256", "kty": "EC", "x": b64u(numbers.x.to_bytes(32, "big")),
            "y": b64u(numbers.y.to_bytes(32, "big"))}


def thumbprint(key: ec.EllipticCurvePrivateKey) -> str:
    """RFC 7638 §3: SHA-256 of the JWK's required members, sorted, no whitespace."""
    text = json.dumps(_jwk(key), sort_keys=True, separators=(",", ":"))
    return b64u(hashlib.sha256(text.encode()).digest())


def key_authorization(token: str, key: ec.EllipticCurvePrivateKey) -> str:
    """RFC 8555 §8.1: token || '.' || base64url(thumbprint(accountKey))."""
    return f"{token}.{thumbprint(key)}"


def csr_for(names: list[str], key: ec.EllipticCurvePrivateKey) -> bytes:
    """A DER CSR for ``names`` (all in subjectAltName, the first also the CN), RFC 8555 §7.4."""
    builder = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                              critical=False))
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@dataclass(slots=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body)
        except ValueError:
            raise AcmeError(f"the CA answered {self.status} with no JSON") from None
        if not isinstance(value, dict):
            raise AcmeError("the CA answered JSON that is not an object")
        return value


@dataclass(slots=True)
class Authorization:
    url: str
    name: str
    status: str
    challenges: list[dict[str, Any]]


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to another HTTPS URL (RFC 8555 §6.1: every ACME exchange is
    HTTPS); urllib would otherwise follow one to plain HTTP after our scheme check."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        if not newurl.startswith("https://"):
            raise AcmeError(f"refusing a redirect to a non-HTTPS URL: {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclass
class AcmeClient:
    directory_url: str
    account_key: ec.EllipticCurvePrivateKey
    ssl_context: ssl.SSLContext
    timeout: float = 30.0
    user_agent: str = "postroom-acme"
    stop: threading.Event = field(default_factory=threading.Event)  # set: give up polling
    kid: str = ""
    _directory: dict[str, Any] | None = None
    _nonce: str = ""

    # -- transport -----------------------------------------------------------------------
    def _http(self, method: str, url: str, body: bytes | None = None,
              content_type: str = "application/jose+json",
              accept: str = "application/json") -> Response:
        if not url.startswith("https://"):
            raise AcmeError(f"refusing a non-HTTPS ACME URL: {url}")  # RFC 8555 §6.1
        request = urllib.request.Request(url, data=body, method=method, headers={
            "User-Agent": self.user_agent, "Accept": accept,
            **({"Content-Type": content_type} if body is not None else {})})
        opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=self.ssl_context), _HttpsOnlyRedirects())
        try:
            with opener.open(request, timeout=self.timeout) as reply:
                response = Response(reply.status, dict(reply.headers.items()),
                                    reply.read(MAX_RESPONSE))
        except urllib.error.HTTPError as exc:
            response = Response(exc.code, dict(exc.headers.items()), exc.read(MAX_RESPONSE))
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AcmeError(f"cannot reach the ACME server at {url}: {reason}") from None
        nonce = _header(response.headers, "Replay-Nonce")
        if nonce:
            self._nonce = nonce
        return response

    def directory(self) -> dict[str, Any]:
        """RFC 8555 §7.1.1: the URLs of every operation."""
        if self._directory is None:
            response = self._http("GET", self.directory_url)
            if response.status != 200:
                raise AcmeError(f"the ACME directory {self.directory_url} answered "
                                f"{response.status}")
            self._directory = response.json()
        return self._directory

    def _url(self, name: str) -> str:
        url = self.directory().get(name)
        if not isinstance(url, str):
            raise AcmeError(f"the ACME directory has no {name}")
        return url

    def _fresh_nonce(self) -> str:
        if not self._nonce:
            self._http("HEAD", self._url("newNonce"))  # RFC 8555 §7.2
            if not self._nonce:
                raise AcmeError("the CA gave no Replay-Nonce")
        nonce, self._nonce = self._nonce, ""
        return nonce

    def _signed(self, url: str, payload: dict[str, Any] | None, with_jwk: bool) -> bytes:
        """A flattened JWS (RFC 7515 §7.2.2) signed with ES256 (RFC 7518 §3.4)."""
        protected: dict[str, Any] = {"alg": "ES256", "nonce": self._fresh_nonce(), "url": url}
        if with_jwk:
            protected["jwk"] = _jwk(self.account_key)
        else:
            protected["kid"] = self.kid
        head = b64u(json.dumps(protected).encode())
        body = "" if payload is None else b64u(json.dumps(payload).encode())  # §6.3
        der = self.account_key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        return json.dumps({"protected": head, "payload": body,
                           "signature": signature}).encode()

    def post(self, url: str, payload: dict[str, Any] | None, *, with_jwk: bool = False,
             accept: str = "application/json") -> Response:
        """POST (or POST-as-GET with ``payload=None``); errors raise ``AcmeError``."""
        for attempt in range(3):
            response = self._http("POST", url, self._signed(url, payload, with_jwk),
                                  accept=accept)
            if response.status < 400:
                return response
            problem = _problem(response)
            if problem.kind.endswith(":badNonce") and attempt < 2:
                continue  # RFC 8555 §6.5: retry with the nonce the error carried
            raise problem
        raise AssertionError("unreachable")

    # -- operations ----------------------------------------------------------------------
    def register(self, contact: str) -> str:
        """Find or create the account of our key (RFC 8555 §7.3); returns its URL. Asking
        again with the same key returns the existing account (200), so this is safe to call
        before every order."""
        payload: dict[str, Any] = {"termsOfServiceAgreed": True}
        if contact:
            payload["contact"] = [f"mailto:{contact}"]
        response = self.post(self._url("newAccount"), payload, with_jwk=True)
        self.kid = _header(response.headers, "Location")
        if not self.kid:
            raise AcmeError("the CA gave no account URL")
        return self.kid

    def new_order(self, names: list[str]) -> tuple[str, dict[str, Any]]:
        """RFC 8555 §7.4: an order for ``names``; returns (order URL, order)."""
        response = self.post(self._url("newOrder"), {
            "identifiers": [{"type": "dns", "value": n} for n in names]})
        url = _header(response.headers, "Location")
        if not url:
            raise AcmeError("the CA gave no order URL")
        return url, response.json()

    def authorization(self, url: str) -> Authorization:
        body = self.post(url, None).json()  # RFC 8555 §7.5
        ident = body.get("identifier") or {}
        return Authorization(url, str(ident.get("value", "")), str(body.get("status", "")),
                             list(body.get("challenges") or []))

    def respond(self, challenge_url: str) -> None:
        """Tell the CA the challenge is ready (RFC 8555 §7.5.1: an empty JSON object)."""
        self.post(challenge_url, {})

    def poll(self, url: str, done: set[str], deadline: float) -> dict[str, Any]:
        """POST-as-GET ``url`` until its status is in ``done`` or ``invalid``; returns the
        resource. Raises AcmeError at the deadline or when asked to stop."""
        wait = POLL_MIN
        while True:
            response = self.post(url, None)
            body = response.json()
            if body.get("status") in done or body.get("status") == "invalid":
                return body
            pause = _retry_after(response.headers, wait)
            if time.monotonic() + pause > deadline or self.stop.is_set():
                raise AcmeError(f"gave up waiting for {url} (status "
                                f"{body.get('status')!r})")
            self.stop.wait(pause)
            wait = min(wait * 2, POLL_MAX)

    def finalize(self, order: dict[str, Any], csr_der: bytes) -> None:
        """RFC 8555 §7.4: send the CSR once every authorization is valid."""
        self.post(str(order["finalize"]), {"csr": b64u(csr_der)})

    def download(self, url: str) -> bytes:
        """The certificate chain, PEM, leaf first (RFC 8555 §7.4.2)."""
        response = self.post(url, None, accept="application/pem-certificate-chain")
        if b"-----BEGIN CERTIFICATE-----" not in response.body:
            raise AcmeError("the CA's certificate download is not a PEM chain")
        return response.body


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return ""


def _retry_after(headers: Mapping[str, str], default: float) -> float:
    """Retry-After in seconds (RFC 9110 §10.2.3; an HTTP date is taken as the default)."""
    value = _header(headers, "Retry-After").strip()
    if value.isdigit():
        return min(float(value), 60.0)
    return default


def _problem(response: Response) -> AcmeError:
    """An error response as AcmeError, with the problem document's type and detail
    (RFC 8555 §6.7, RFC 7807)."""
    try:
        body = json.loads(response.body)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    kind = str(body.get("type", ""))
    detail = str(body.get("detail", "")) or f"HTTP {response.status}"
    short = kind.rsplit(":", 1)[-1] if kind else f"HTTP {response.status}"
    return AcmeError(f"{short}: {detail}", kind)


def challenge_error(authz: dict[str, Any]) -> str:
    """Why an authorization is invalid: the failed challenge's error detail."""
    for challenge in authz.get("challenges") or []:
        error = challenge.get("error")
        if isinstance(error, dict):
            kind = str(error.get("type", "")).rsplit(":", 1)[-1]
            return f"{kind}: {error.get('detail', '')}".strip(": ")
    return "validation failed"
