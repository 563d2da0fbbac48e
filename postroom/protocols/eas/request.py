"""The request line of MS-ASHTTP §2.2.1.1: the plain and the base64-encoded query, sans I/O.

Plain form (§2.2.1.1.1): ``Cmd=Sync&User=alice&DeviceId=ABC123&DeviceType=iPhone`` plus the
command's parameters (CollectionId, ItemId, LongId, AttachmentName, Occurrence, SaveInSent,
AcceptMultiPart). Base64 form (§2.2.1.1.1.1), which Windows Mobile and some Android clients
send: one base64 string holding the protocol version, the command code, the locale, the
device id, the policy key, the device type and coded parameters.

Both become one ``CommandLine``; anything malformed is a ``RequestLineError`` (HTTP 400,
§3.2.5.1): no command, an unknown one, a missing or unsafe DeviceId or DeviceType, bad
base64, a field running past the end.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote


class RequestLineError(ValueError):
    """A query that names no command, an unknown command, or a malformed base64 form:
    HTTP 400 (MS-ASHTTP §3.2.5.1)."""


@dataclass(frozen=True, slots=True)
class CommandLine:
    command: str  # "Sync", "FolderSync", … (MS-ASHTTP §2.2.1.1.1.2 names)
    user: str  # the User parameter ("" when absent: the Authorization header decides)
    device_id: str  # DeviceId, at most 32 characters of [A-Za-z0-9] (plus '-' and '_' seen)
    device_type: str  # DeviceType ("iPhone", "Android", …)
    # the base64 form carries these in the query; the plain form in headers (the app fills
    # them from MS-ASProtocolVersion / X-MS-PolicyKey when the query had none)
    version: str | None = None
    policy_key: str | None = None
    params: dict[str, str] = field(default_factory=dict)  # CollectionId, ItemId, LongId,
    # AttachmentName, Occurrence, SaveInSent ("T"/"F"), AcceptMultiPart ("T"/"F")


# MS-ASHTTP §2.2.1.1.1.1.2: the command codes of the base64 form
COMMAND_CODES: dict[int, str] = {
    0: "Sync", 1: "SendMail", 2: "SmartForward", 3: "SmartReply", 4: "GetAttachment",
    9: "FolderSync", 10: "FolderCreate", 11: "FolderDelete", 12: "FolderUpdate",
    13: "MoveItems", 14: "GetItemEstimate", 15: "MeetingResponse", 16: "Search",
    17: "Settings", 18: "Ping", 19: "ItemOperations", 20: "Provision",
    21: "ResolveRecipients", 22: "ValidateCert", 23: "Find",
}
COMMANDS = frozenset(COMMAND_CODES.values())

# MS-ASHTTP §2.2.1.1.1.1.3: the parameter tags of the base64 form
_PARAM_TAGS: dict[int, str] = {0: "AttachmentName", 1: "CollectionId", 3: "ItemId",
                               4: "LongId", 6: "Occurrence", 8: "User"}
_OPTIONS_TAG = 7  # one octet of flags: 0x01 SaveInSent, 0x02 AcceptMultiPart
_PLAIN_PARAMS = ("AttachmentName", "CollectionId", "ItemId", "LongId", "Occurrence",
                 "SaveInSent", "AcceptMultiPart", "ParentId")

# DeviceId: MS-ASHTTP says up to 32 alphanumerics; real devices also send '-' and '_'
_DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_DEVICE_TYPE = re.compile(r"^[A-Za-z0-9 ._-]{1,64}$")
_MAX_QUERY = 4096


def parse(query: str) -> CommandLine:
    """The request line of a POST's query string (without the ``?``)."""
    if len(query) > _MAX_QUERY:
        raise RequestLineError("the query is too long")
    if "=" in query and any(k.lower() == "cmd" for k, _ in _pairs(query)):
        return _plain(query)
    if not query:
        raise RequestLineError("no command (Cmd=) in the query")
    return _base64(query)


def _pairs(query: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(query, keep_blank_values=True, strict_parsing=False,
                         max_num_fields=32)
    except ValueError as exc:
        raise RequestLineError(f"malformed query: {exc}") from None


def _plain(query: str) -> CommandLine:
    values: dict[str, str] = {}
    for key, value in _pairs(query):
        values.setdefault(key.lower(), value)
    command = next((c for c in COMMANDS if c.lower() == values.get("cmd", "").lower()), None)
    if command is None:
        raise RequestLineError(f"unknown command {values.get('cmd', '')[:40]!r}")
    params = {name: values[name.lower()] for name in _PLAIN_PARAMS if name.lower() in values}
    return _checked(CommandLine(command, values.get("user", ""), values.get("deviceid", ""),
                                values.get("devicetype", ""), params=params))


def _base64(query: str) -> CommandLine:
    # percent-encoding in either letter case (%2B, %2f…); some clients drop the padding
    text = unquote(query)
    text += "=" * (-len(text.rstrip("=")) % 4) if not text.endswith("=") else ""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RequestLineError("the query is neither Cmd=… nor valid base64") from None
    reader = _Reader(raw)
    version_byte = reader.octet()
    code = reader.octet()
    command = COMMAND_CODES.get(code)
    if command is None:
        raise RequestLineError(f"unknown command code {code}")
    reader.take(2)  # locale (little-endian LCID): answers are not localised
    device_raw = reader.take(reader.octet())
    device_id = device_raw.decode("ascii", "replace") if device_raw.isascii() and \
        device_raw.decode("ascii").isalnum() else device_raw.hex().upper()
    key_raw = reader.take(reader.octet())
    policy_key: str | None = None
    if len(key_raw) == 4:
        policy_key = str(struct.unpack("<I", key_raw)[0])
    elif key_raw:
        raise RequestLineError("a policy key must be 4 octets")
    device_type = reader.take(reader.octet()).decode("ascii", "replace")
    params: dict[str, str] = {}
    user = ""
    while not reader.done:
        tag = reader.octet()
        value = reader.take(reader.octet())
        if tag == _OPTIONS_TAG:
            flags = value[0] if value else 0
            params["SaveInSent"] = "T" if flags & 0x01 else "F"
            params["AcceptMultiPart"] = "T" if flags & 0x02 else "F"
            continue
        name = _PARAM_TAGS.get(tag)
        if name is None:
            continue  # an unknown parameter is ignored, as for the plain form
        text = value.decode("utf-8", "replace")
        if name == "User":
            user = text
        else:
            params[name] = text
    version = f"{version_byte // 10}.{version_byte % 10}"
    return _checked(CommandLine(command, user, device_id, device_type, version, policy_key,
                                params))


def _checked(line: CommandLine) -> CommandLine:
    if not _DEVICE_ID.match(line.device_id):
        raise RequestLineError("DeviceId is missing or not 1-32 letters and digits")
    if not _DEVICE_TYPE.match(line.device_type):
        raise RequestLineError("DeviceType is missing or malformed")
    if len(line.user) > 320:
        raise RequestLineError("User is too long")
    return line


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)

    def octet(self) -> int:
        if self.pos >= len(self.data):
            raise RequestLineError("the base64 query ends too early")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, count: int) -> bytes:
        if count > len(self.data) - self.pos:
            raise RequestLineError("a field of the base64 query runs past its end")
        value = self.data[self.pos:self.pos + count]
        self.pos += count
        return value
