"""PROXY protocol v1 (text) and v2 (binary) headers, sans-I/O (haproxy's proxy-protocol.txt).

``parse(buffer)`` returns ``NeedMore``, a ``ProxyInfo`` with the number of bytes consumed, or
raises ``ProxyError``. The listener only accepts the header from configured load balancers.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107


class ProxyError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class NeedMore:
    pass


@dataclass(frozen=True, slots=True)
class ProxyInfo:
    source: tuple[str, int] | None  # None: LOCAL / UNKNOWN (health check): keep the peer
    consumed: int


def parse(buf: bytes) -> NeedMore | ProxyInfo:
    if len(buf) < len(V2_SIGNATURE) and V2_SIGNATURE.startswith(buf):
        return NeedMore()
    if buf.startswith(V2_SIGNATURE):
        return NeedMore() if len(buf) < 16 else _v2(buf)
    if len(buf) < 6 and b"PROXY ".startswith(buf):
        return NeedMore()
    if buf.startswith(b"PROXY "):
        return _v1(buf)
    raise ProxyError("connection did not start with a PROXY protocol header")


def _v1(buf: bytes) -> NeedMore | ProxyInfo:
    end = buf.find(b"\r\n")
    if end < 0:
        if len(buf) > V1_MAX:
            raise ProxyError(f"PROXY v1 header longer than {V1_MAX} octets")
        return NeedMore()
    fields = buf[:end].decode("ascii", "replace").split(" ")
    if len(fields) >= 2 and fields[1] == "UNKNOWN":
        return ProxyInfo(None, end + 2)
    if len(fields) != 6 or fields[0] != "PROXY" or fields[1] not in ("TCP4", "TCP6"):
        raise ProxyError("malformed PROXY v1 header")
    try:
        src = ipaddress.ip_address(fields[2])
        ipaddress.ip_address(fields[3])
        port = int(fields[4])
        int(fields[5])
    except ValueError:
        raise ProxyError("malformed PROXY v1 addresses") from None
    if not 0 <= port <= 65535:
        raise ProxyError("PROXY v1 port out of range")
    return ProxyInfo((str(src), port), end + 2)


def _v2(buf: bytes) -> NeedMore | ProxyInfo:
    ver_cmd, fam, length = buf[12], buf[13], struct.unpack("!H", buf[14:16])[0]
    if ver_cmd >> 4 != 2:
        raise ProxyError("unsupported PROXY v2 version")
    total = 16 + length
    if len(buf) < total:
        return NeedMore()
    if ver_cmd & 0x0F == 0:  # LOCAL
        return ProxyInfo(None, total)
    if ver_cmd & 0x0F != 1:
        raise ProxyError("unknown PROXY v2 command")
    body = buf[16:total]
    if fam >> 4 == 1 and length >= 12:
        src = str(ipaddress.IPv4Address(body[0:4]))
        port = struct.unpack("!H", body[8:10])[0]
        return ProxyInfo((src, port), total)
    if fam >> 4 == 2 and length >= 36:
        src = str(ipaddress.IPv6Address(body[0:16]))
        port = struct.unpack("!H", body[32:34])[0]
        return ProxyInfo((src, port), total)
    return ProxyInfo(None, total)
