"""Making DKIM signatures (RFC 6376) with rsa-sha256 and ed25519-sha256 (RFC 8463).

Design: the body is hashed in one streaming pass (``RelaxedBody``), so a 50 MB message is never
held whole in memory, and the one body hash serves every signature (both algorithms sign the
same canonical body, RFC 6376 §3.7). The header hash is then computed per key over the header
section the door kept (``Message.head``). Only relaxed/relaxed canonicalization is produced
(§3.4.2, §3.4.4): it survives the re-folding and whitespace changes that relays make, which
simple canonicalization does not. No ``l=`` tag is ever written (§8.2: it lets anyone append
content under our signature).

Verification is not done here: the verifier of incoming mail is a separate check; this module's
output is verified in the test suite by dkimpy and by OpenDKIM, two independent
implementations.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

_WSP_RUN = re.compile(rb"[ \t]+")
_FOLD = re.compile(rb"\r\n(?=[ \t])")

ALGORITHMS = {"ed25519": "ed25519-sha256", "rsa": "rsa-sha256"}  # RFC 8463 §3, RFC 6376 §3.3


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One private key ready to sign: which domain and selector it publishes under."""

    domain: str
    selector: str
    algorithm: str  # "ed25519" | "rsa"
    key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


class RelaxedBody:
    """The SHA-256 of a body in relaxed canonical form (RFC 6376 §3.4.4), fed in pieces of any
    size: whitespace at line ends removed, runs of WSP made one SP, empty lines at the end
    ignored, and a non-empty body ending in CRLF."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._partial = b""
        self._empty = 0  # empty lines held back: they count only if a non-empty one follows

    def feed(self, data: bytes) -> None:
        data = self._partial + data
        cut = data.rfind(b"\r\n")
        if cut < 0:
            self._partial = data
            return
        self._partial = data[cut + 2:]
        # Whole lines at once, with C-speed replaces rather than a regex or a per-line loop
        # (each several times slower): WSP runs to one SP, then the SP a line may end with.
        block = data[:cut + 2]
        if b"\t" in block:
            block = block.replace(b"\t", b" ")
        while b"  " in block:
            block = block.replace(b"  ", b" ")
        block = block.replace(b" \r\n", b"\r\n")
        end = len(block)
        while end >= 2 and block[end - 2:end] == b"\r\n":
            end -= 2
        run = (len(block) - end) // 2  # CRLFs at the end of the block
        if end == 0:  # only empty lines: they count if a non-empty line follows
            self._empty += run
            return
        if self._empty:
            self._hash.update(b"\r\n" * self._empty)
        self._hash.update(block[:end + 2])  # up to the last non-empty line and its CRLF
        self._empty = run - 1

    def _line(self, line: bytes) -> None:
        line = _WSP_RUN.sub(b" ", line).rstrip(b" ")
        if not line:
            self._empty += 1
            return
        if self._empty:
            self._hash.update(b"\r\n" * self._empty)
            self._empty = 0
        self._hash.update(line + b"\r\n")

    def digest(self) -> bytes:
        if self._partial:  # a last line without CRLF gets one (§3.4.4)
            self._line(self._partial)
            self._partial = b""
        return self._hash.digest()


def header_fields(head: bytes) -> list[tuple[bytes, bytes]]:
    """(name, whole field with its CRLF) for each field of a header section, in order."""
    fields: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n")[:-1] if head.endswith(b"\r\n") else head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, text = fields[-1]
            fields[-1] = (name, text + line + b"\r\n")
        else:
            name = line.partition(b":")[0].strip()
            fields.append((name, line + b"\r\n"))
    return fields


def relaxed_header(field: bytes) -> bytes:
    """One header field in relaxed form (RFC 6376 §3.4.2): name lower-cased, unfolded, runs of
    WSP made one SP, no WSP around the colon or at the end; ends with CRLF."""
    name, _, value = field.partition(b":")
    value = _FOLD.sub(b"", value.rstrip(b"\r\n"))
    value = _WSP_RUN.sub(b" ", value).strip(b" ")
    return name.strip(b" \t").lower() + b":" + value + b"\r\n"


def choose_headers(fields: Sequence[tuple[bytes, bytes]], names: Sequence[str],
                   oversign: Sequence[str]) -> tuple[list[str], list[bytes]]:
    """The h= list and the fields it covers, in that order (RFC 6376 §5.4.2: several
    instances of a name are signed from the bottom up). Each name of ``names`` is listed once
    per instance; a name in ``oversign`` once more (§8.15: a field added later, say a second
    From:, then breaks the signature), and so even when absent."""
    by_name: dict[str, list[bytes]] = {}
    for field_name, text in fields:
        by_name.setdefault(field_name.decode("ascii", "replace").lower(), []).append(text)
    listed: list[str] = []
    covered: list[bytes] = []
    over = {n.lower() for n in oversign}
    for name in names:
        key = name.lower()
        instances = by_name.get(key, [])
        listed += [key] * (len(instances) + (1 if key in over else 0))
        covered += reversed(instances)
    return listed, covered


def _fold_list(items: Sequence[str], first: int, width: int = 76) -> str:
    """``a:b:c`` folded before a colon-separated item when the line would pass ``width``
    (FWS is allowed around each colon of h=, RFC 6376 §3.5)."""
    out, column = "", first
    for i, item in enumerate(items):
        piece = (":" if i else "") + item
        if column + len(piece) > width and i:
            out += "\r\n\t"
            column = 1
        out += piece
        column += len(piece)
    return out


def _fold_b64(value: str, first: int, width: int = 76) -> str:
    """A base64 value in pieces of at most ``width`` columns (FWS inside b= and bh= is
    ignored by verifiers, RFC 6376 §3.5)."""
    room = max(width - first, 8)
    pieces = [value[:room]]
    rest = value[room:]
    while rest:
        pieces.append(rest[:width - 1])
        rest = rest[width - 1:]
    return "\r\n\t".join(pieces)


def sign(head: bytes, body_hash: bytes, key: SigningKey, names: Sequence[str],
         oversign: Sequence[str], now: int, expire_after: int = 0) -> bytes:
    """One ``DKIM-Signature:`` field (folded, ending in CRLF) for a message with header
    section ``head`` and relaxed body hash ``body_hash`` (RFC 6376 §3.7, §5)."""
    if "from" not in {n.lower() for n in names}:  # RFC 6376 §5.4: From MUST be signed
        names = ["from", *names]
    listed, covered = choose_headers(header_fields(head), names, oversign)
    tags = [f"v=1; a={ALGORITHMS[key.algorithm]}; c=relaxed/relaxed; d={key.domain};",
            f"\r\n\ts={key.selector}; t={now};" + (f" x={now + expire_after};"
                                                    if expire_after else "")]
    tags.append("\r\n\th=" + _fold_list(listed, 3) + ";")
    tags.append("\r\n\tbh=" + base64.b64encode(body_hash).decode("ascii") + ";")
    tags.append("\r\n\tb=")
    unsigned = "DKIM-Signature: " + "".join(tags)
    # §3.7: the signature covers the chosen fields, then this field with an empty b=, in
    # canonical form and without its final CRLF
    data = b"".join(relaxed_header(f) for f in covered) + \
        relaxed_header(unsigned.encode("ascii"))[:-2]
    if isinstance(key.key, ed25519.Ed25519PrivateKey):
        # RFC 8463 §3: Ed25519 (PureEdDSA) signs the SHA-256 hash of the data
        signature = key.key.sign(hashlib.sha256(data).digest())
    else:
        signature = key.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    b = _fold_b64(base64.b64encode(signature).decode("ascii"), 3)
    return (unsigned + b + "\r\n").encode("ascii")


def public_key_b64(key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey) -> str:
    """The p= value of the key record (RFC 6376 §3.6.1): for RSA the DER SubjectPublicKeyInfo,
    for Ed25519 the raw 32-octet public key (RFC 8463 §4)."""
    from cryptography.hazmat.primitives import serialization

    pub = key.public_key()
    if isinstance(pub, ed25519.Ed25519PublicKey):
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = pub.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(raw).decode("ascii")


def key_record(algorithm: str, public_b64: str) -> str:
    """The TXT record text published at ``<selector>._domainkey.<domain>`` (RFC 6376
    §3.6.1; k=ed25519 from RFC 8463 §4)."""
    k = "ed25519" if algorithm == "ed25519" else "rsa"
    return f"v=DKIM1; k={k}; p={public_b64}"
