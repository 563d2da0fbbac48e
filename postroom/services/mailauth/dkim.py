"""DKIM verification (RFC 6376 §6) of every signature of a message, with dkimpy.

Why this shape. dkimpy asks DNS through a synchronous ``dnsfunc``; called on the event loop it
would stall every session for a slow key server. Two ways out were weighed:

- run dkimpy whole in a worker thread, its ``dnsfunc`` doing blocking lookups there: the loop
  stays free, but each slow lookup holds a thread, the DNS timeout and servers are dkimpy's
  or a second resolver's, and a DNS failure comes back as a plain ``False``;
- **prefetch** (chosen): read every signature's ``s=`` and ``d=`` first, ask for all the keys at
  once through our own asynchronous resolver (net/lookup.py, with its timeout, the servers from
  the configuration, and the loopback DNS in the tests), then hand dkimpy a ``dnsfunc`` that only
  reads that cache. A temporary DNS failure is then known as such and reported ``temperror``
  (RFC 6376 §6.1.2), a missing key as a missing key, and no thread ever waits on the network.

The cryptography and canonicalisation of a large message run in a worker thread
(``executor``): hashing the body of a 50 MB message takes tens of milliseconds of CPU, too long
for the event loop. That step is bounded by ``verify_timeout`` seconds; past it the signature is
a ``temperror``. A message of at most ``inline_size`` octets is verified on the event loop: a
4 KB one costs about 0.5 ms of CPU, less than handing it to a thread and waking the loop again
(measured with bench/mailauth_cost.py; the threads add no parallelism under the GIL).

Per signature (RFC 6376 §6.1), the outcome is one of ``DkimStatus``; RFC 8601 §2.7.1 names the
Authentication-Results result each maps to (``result``):
- ``pass``;
- ``fail (body hash did not verify)``: the body changed since signing (RFC 6376 §6.1.3 step 4);
- ``fail (signature did not verify)``: a signed header field changed (step 5);
- ``permerror (signature expired)``: ``x=`` is past (RFC 6376 §3.5, §6.1.1);
- ``permerror (no key for signature)``: no key record at ``s._domainkey.d`` (§6.1.2);
- ``permerror``: a malformed signature or key, a revoked key, a key too short;
- ``temperror``: the key could not be fetched now.

At most ``max_signatures`` signatures are verified (RFC 6376 §6.1 lets a verifier limit the
work an attacker can ask of it); the rest are reported ``policy``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import dkim
from dkim.util import InvalidTagValueList, parse_tag_value

from postroom.net.lookup import DnsTemporary, Lookup

MIN_KEY_BITS = 1024  # RFC 8301 §3.2: verifiers MUST NOT accept RSA keys below 1024 bits
_quiet = logging.getLogger("postroom.mailauth.dkimpy")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


class DkimStatus(enum.Enum):
    PASS = "pass"
    BODY_CHANGED = "body hash did not verify"
    HEADER_CHANGED = "signature did not verify"
    EXPIRED = "signature expired"
    NO_KEY = "no key for signature"
    PERMERROR = "permerror"
    TEMPERROR = "temperror"
    POLICY = "not verified"

    @property
    def result(self) -> str:
        """The RFC 8601 result word."""
        if self is DkimStatus.PASS:
            return "pass"
        if self in (DkimStatus.BODY_CHANGED, DkimStatus.HEADER_CHANGED):
            return "fail"
        if self is DkimStatus.TEMPERROR:
            return "temperror"
        if self is DkimStatus.POLICY:
            return "policy"
        return "permerror"


@dataclass(frozen=True, slots=True)
class DkimSignature:
    status: DkimStatus
    domain: str  # d=, lower case ("" when unreadable)
    selector: str  # s=
    reason: str  # detail for the log and the comment
    identity: str = ""  # i=
    b: str = ""  # the first characters of b=, to tell signatures apart (RFC 6008)
    algorithm: str = ""

    @property
    def passed(self) -> bool:
        return self.status is DkimStatus.PASS


def signature_fields(head: bytes) -> list[bytes]:
    """The unfolded values of every DKIM-Signature field of a header section, in order."""
    return header_values(head, b"dkim-signature")


def header_values(head: bytes, name: bytes) -> list[bytes]:
    """Unfolded values of the fields called ``name`` (lower case) in a header section."""
    out: list[bytes] = []
    current: bytearray | None = None
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                current += line
            continue
        if current is not None:
            out.append(bytes(current))
            current = None
        field_name, colon, value = line.partition(b":")
        if colon and field_name.strip().lower() == name:
            current = bytearray(value)
    if current is not None:
        out.append(bytes(current))
    return out


def _tags(value: bytes) -> dict[bytes, bytes] | None:
    try:
        tags = parse_tag_value(re.sub(rb"\r\n[ \t]", b" ", value))
    except InvalidTagValueList:
        return None
    return {k: v for k, v in tags.items()} if isinstance(tags, dict) else None


def key_names(values: list[bytes]) -> list[str | None]:
    """``selector._domainkey.domain`` for each signature (None when unreadable)."""
    out: list[str | None] = []
    for value in values:
        tags = _tags(value)
        if tags is None or b"s" not in tags or b"d" not in tags:
            out.append(None)
            continue
        try:
            s = tags[b"s"].decode("ascii").strip()
            d = tags[b"d"].decode("ascii").strip().rstrip(".")
        except UnicodeDecodeError:
            out.append(None)
            continue
        out.append(f"{s}._domainkey.{d}".lower())
    return out


@dataclass
class Keys:
    """Key records fetched for one message: name → TXT text (None: no record), and the
    names that could not be fetched now."""

    records: dict[str, str | None]
    failed: set[str]


async def fetch_keys(dns: Lookup, names: list[str | None]) -> Keys:
    """Every distinct key record, asked for at once (RFC 6376 §3.6.2.2: the first TXT record
    is the key; dkimpy judges its syntax). Each name is asked separately, so a temporary
    failure of one leaves the others."""
    wanted = sorted({n for n in names if n})

    async def one(name: str) -> tuple[str, str | None, bool]:
        try:
            answer = await dns.query(name, "TXT")
        except DnsTemporary:
            return name, None, True
        return name, (answer.records[0] if answer.records else None), False

    keys = Keys({}, set())
    for name, record, failed in await asyncio.gather(*(one(n) for n in wanted)):
        if failed:
            keys.failed.add(name)
        else:
            keys.records[name] = record
    return keys


class DkimVerifier:
    def __init__(self, dns: Lookup, executor: Executor | None = None,
                 max_signatures: int = 10, verify_timeout: float = 10.0,
                 min_key_bits: int = MIN_KEY_BITS, inline_size: int = 0) -> None:
        self.dns = dns
        self.executor = executor
        self.max_signatures = max_signatures
        self.verify_timeout = verify_timeout
        self.min_key_bits = min_key_bits
        self.inline_size = inline_size

    async def verify(self, message: bytes, head: bytes) -> list[DkimSignature]:
        """One outcome per DKIM-Signature field, top first; [] for an unsigned message."""
        values = signature_fields(head)
        if not values:
            return []
        names = key_names(values[:self.max_signatures])
        keys = await fetch_keys(self.dns, names)
        loop = asyncio.get_running_loop()
        out: list[DkimSignature] = []
        for idx, value in enumerate(values):
            tags = _tags(value) or {}
            if idx >= self.max_signatures:
                out.append(_describe(DkimStatus.POLICY, tags, f"over the limit of "
                                     f"{self.max_signatures} signatures verified"))
                continue
            name = names[idx]
            if name is None:
                out.append(_describe(DkimStatus.PERMERROR, tags, "malformed signature"))
                continue
            if name in keys.failed:
                out.append(_describe(DkimStatus.TEMPERROR, tags,
                                     f"key {name} could not be fetched"))
                continue
            record = keys.records.get(name)
            if len(message) <= self.inline_size:
                status, reason = self._verify_one(message, idx, name, record)
            else:
                try:
                    status, reason = await asyncio.wait_for(loop.run_in_executor(
                        self.executor, self._verify_one, message, idx, name, record),
                        self.verify_timeout)
                except TimeoutError:
                    status, reason = DkimStatus.TEMPERROR, "verification took too long"
            out.append(_describe(status, tags, reason))
        return out

    def _verify_one(self, message: bytes, idx: int, name: str, record: str | None,
                    ) -> tuple[DkimStatus, str]:
        """Runs in a worker thread: no network (the key is passed in)."""
        if record is None:
            return DkimStatus.NO_KEY, f"no key at {name}"  # RFC 6376 §6.1.2
        raw = record.encode("latin-1")
        try:
            dkim.evaluate_pk(name.encode(), raw)
        except (dkim.KeyFormatError, dkim.UnknownKeyTypeError) as exc:
            return DkimStatus.PERMERROR, f"bad key at {name}: {exc}"
        except Exception as exc:  # dkimpy raises others on odd keys (binascii, nacl)
            return DkimStatus.PERMERROR, f"bad key at {name}: {type(exc).__name__}"

        def dnsfunc(qname: bytes, timeout: float = 5) -> bytes | None:
            return raw

        verifier = prepared(dkim.DKIM, message, logger=_quiet, minkey=self.min_key_bits)
        try:
            ok = verifier.verify(idx, dnsfunc=dnsfunc)
        except dkim.ValidationError as exc:
            text = str(exc)
            if "body hash mismatch" in text:
                return DkimStatus.BODY_CHANGED, "the body changed after signing"
            if "x= value is past" in text:
                return DkimStatus.EXPIRED, "signature expired"
            return DkimStatus.PERMERROR, text
        except dkim.KeyFormatError as exc:
            return DkimStatus.PERMERROR, str(exc)
        except dkim.DKIMException as exc:
            return DkimStatus.PERMERROR, str(exc)
        except Exception as exc:  # a malformed message must not take the check down
            return DkimStatus.PERMERROR, f"{type(exc).__name__}: {exc}"
        if ok:
            return DkimStatus.PASS, "good signature"
        return DkimStatus.HEADER_CHANGED, "a signed header field changed"


def prepared(cls: Any, message: bytes, **kwargs: Any) -> Any:
    """A dkimpy ``DKIM``/``ARC`` object over ``message``, parsed faster than dkimpy parses.

    dkimpy splits the whole message into lines with ``re.split(b"\\r?\\n")`` to normalise line
    ends, which costs about 5 ms per 100 KB (the pattern is tried at every octet): most of a
    verification. Mail that reached the pipeline has CRLF line ends only (a bare CR or LF is
    refused by the ``smuggling`` check, RFC 5321 §2.3.8), so the body needs no splitting: only
    the header section goes through dkimpy's parser, and the body is handed over as it is,
    exactly what dkimpy's parser would have produced for it. Anything else takes dkimpy's
    own path."""
    end = message.find(b"\r\n\r\n")
    if end < 0 or message.startswith(b"\r\n"):
        return cls(message, **kwargs)
    body = message[end + 4:]
    if body.count(b"\n") != body.count(b"\r\n") or body.count(b"\r") != body.count(b"\n"):
        return cls(message, **kwargs)
    obj = cls(message[:end + 4], **kwargs)
    obj.body = body
    return obj


def _describe(status: DkimStatus, tags: dict[bytes, bytes], reason: str) -> DkimSignature:
    def tag(name: bytes) -> str:
        return tags.get(name, b"").decode("ascii", "replace").strip()
    b = re.sub(r"[^A-Za-z0-9+/]", "", tag(b"b"))  # RFC 6008: the start of b=, base64 only
    return DkimSignature(status, tag(b"d").lower().rstrip("."), tag(b"s"), reason,
                         tag(b"i"), b[:8], tag(b"a"))
