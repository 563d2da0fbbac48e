"""The request line (protocols/eas/request.py, MS-ASHTTP §2.2.1.1): the plain query form,
the base64 form (§2.2.1.1.1.1: version byte, command code, locale, DeviceId, PolicyKey,
DeviceType, tagged parameters §2.2.1.1.1.1.3), and every malformed line a RequestLineError
(hypothesis: arbitrary text never raises anything else)."""

from __future__ import annotations

import base64
import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.protocols.eas.request import COMMAND_CODES, RequestLineError, parse


def b64(version: int, code: int, device: bytes, key: bytes, device_type: bytes,
        params: bytes = b"") -> str:
    raw = bytes([version, code]) + struct.pack("<H", 0x0409) + bytes([len(device)]) + device \
        + bytes([len(key)]) + key + bytes([len(device_type)]) + device_type + params
    return base64.b64encode(raw).decode()


def test_the_plain_form() -> None:
    line = parse("Cmd=SmartReply&User=alice%40example.test&DeviceId=ABC123&DeviceType=iPhone"
                 "&CollectionId=5&ItemId=5%3A17&SaveInSent=T")
    assert (line.command, line.user, line.device_id, line.device_type) == \
        ("SmartReply", "alice@example.test", "ABC123", "iPhone")
    assert line.params == {"CollectionId": "5", "ItemId": "5:17", "SaveInSent": "T"}
    assert line.version is None and line.policy_key is None


def test_the_plain_form_ignores_letter_case_of_names_and_command() -> None:
    line = parse("cmd=foldersync&deviceid=A-1_b&devicetype=Android&user=bob")
    assert (line.command, line.device_id, line.device_type, line.user) == \
        ("FolderSync", "A-1_b", "Android", "bob")


def test_the_base64_form() -> None:
    key = struct.pack("<I", 3942919513)
    params = bytes([1, 2]) + b"17" + bytes([3, 4]) + b"17:3" + bytes([7, 1, 0x01]) \
        + bytes([8, 5]) + b"alice" + bytes([0, 3]) + b"a.b" + bytes([99, 1]) + b"x"
    line = parse(b64(141, 3, b"Appl1234", key, b"iPhone", params))
    assert (line.command, line.version, line.policy_key) == ("SmartReply", "14.1", "3942919513")
    assert (line.device_id, line.device_type, line.user) == ("Appl1234", "iPhone", "alice")
    assert line.params == {"CollectionId": "17", "ItemId": "17:3", "AttachmentName": "a.b",
                           "SaveInSent": "T", "AcceptMultiPart": "F"}


def test_the_base64_form_percent_encoded_and_binary_device_id() -> None:
    query = b64(121, 9, b"\x01\x02\xfe\xff", b"", b"PocketPC")
    line = parse(query.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D"))
    assert (line.command, line.version, line.policy_key) == ("FolderSync", "12.1", None)
    assert line.device_id == "0102FEFF"


@pytest.mark.parametrize("code, command", sorted(COMMAND_CODES.items()))
def test_every_command_code(code: int, command: str) -> None:
    assert parse(b64(160, code, b"D1", b"", b"T")).command == command


@pytest.mark.parametrize("query", [
    "",
    "User=a&DeviceId=A&DeviceType=T",
    "Cmd=&DeviceId=A&DeviceType=T",
    "Cmd=Nope&DeviceId=A&DeviceType=T",
    "Cmd=Sync&DeviceType=T",
    "Cmd=Sync&DeviceId=&DeviceType=T",
    "Cmd=Sync&DeviceId=" + "a" * 33 + "&DeviceType=T",
    "Cmd=Sync&DeviceId=a%20b&DeviceType=T",
    "Cmd=Sync&DeviceId=a%00&DeviceType=T",
    "Cmd=Sync&DeviceId=abc",
    "Cmd=Sync&DeviceId=abc&DeviceType=",
    "Cmd=Sync&DeviceId=abc&DeviceType=a%0Db",
    "Cmd=Sync&DeviceId=abc&DeviceType=T&User=" + "u" * 400,
    "Cmd=Sync&" + "&".join(f"x{i}=1" for i in range(40)) + "&DeviceId=a&DeviceType=T",
    "Cmd=Sync&DeviceId=abc&DeviceType=T&" + "p=" + "x" * 5000,
    "%%%notbase64",
    base64.b64encode(b"\x8d").decode(),                        # version only
    base64.b64encode(bytes([141, 200, 9, 4])).decode(),        # unknown command code
    base64.b64encode(bytes([141, 0, 9, 4, 9, 65])).decode(),   # DeviceId runs past the end
    b64(141, 0, b"D1", b"\x01\x02", b"T"),                     # a 2-octet policy key
    b64(141, 0, b"D1", b"", b""),                              # no DeviceType
    b64(141, 0, b"", b"", b"T"),                               # no DeviceId
    b64(141, 0, b"D1", b"", b"T", bytes([1, 9]) + b"ab"),      # a parameter past the end
    b64(141, 0, b"D1", b"", b"T", bytes([1])),                 # a tag without its length
])
def test_malformed_lines_are_request_line_errors(query: str) -> None:
    with pytest.raises(RequestLineError):
        parse(query)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_a_line_or_a_request_line_error(query: str) -> None:
    try:
        line = parse(query)
    except RequestLineError:
        return
    assert line.command in COMMAND_CODES.values() and 1 <= len(line.device_id) <= 32


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_any_base64_is_a_line_or_a_request_line_error(raw: bytes) -> None:
    with contextlib.suppress(RequestLineError):
        parse(base64.b64encode(raw).decode())


def test_the_base64_form_in_lower_case_percent_encoding_or_without_padding() -> None:
    query = b64(141, 18, b"Dev1\xfb", b"", b"iPad")  # a device id whose base64 has + or /
    for variant in (query.replace("+", "%2b").replace("/", "%2f").replace("=", "%3d"),
                    query.rstrip("=")):
        line = parse(variant)
        assert (line.command, line.device_id, line.device_type) == ("Ping", "44657631FB",
                                                                    "iPad")
