from __future__ import annotations

import contextlib
import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.net import proxy


def test_v1() -> None:
    assert proxy.parse(b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\nEHLO") == \
        proxy.ProxyInfo(("192.0.2.1", 56324), 45)
    assert proxy.parse(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n").source == \
        ("2001:db8::1", 1)
    assert proxy.parse(b"PROXY UNKNOWN\r\n") == proxy.ProxyInfo(None, 15)
    assert isinstance(proxy.parse(b"PROXY TCP4 1.2"), proxy.NeedMore)
    assert isinstance(proxy.parse(b"PRO"), proxy.NeedMore)
    for bad in (b"PROXY TCP4 x y 1 2\r\n", b"GET / HTTP/1.0\r\n", b"PROXY TCP4 " + b"1" * 200,
                b"PROXY TCP4 1.2.3.4 1.2.3.4 99999 1\r\n"):
        with pytest.raises(proxy.ProxyError):
            proxy.parse(bad)


def test_v2() -> None:
    body = socket.inet_aton("203.0.113.7") + socket.inet_aton("10.0.0.1") + \
        struct.pack("!HH", 4000, 25)
    header = proxy.V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body
    assert proxy.parse(header + b"rest") == proxy.ProxyInfo(("203.0.113.7", 4000), len(header))
    assert isinstance(proxy.parse(header[:20]), proxy.NeedMore)
    local = proxy.V2_SIGNATURE + bytes([0x20, 0x00]) + b"\x00\x00"
    assert proxy.parse(local) == proxy.ProxyInfo(None, 16)
    with pytest.raises(proxy.ProxyError):
        proxy.parse(proxy.V2_SIGNATURE + bytes([0x31, 0x11]) + b"\x00\x00")


@given(st.binary(max_size=300))
def test_never_crashes(data: bytes) -> None:
    with contextlib.suppress(proxy.ProxyError):
        proxy.parse(data)
