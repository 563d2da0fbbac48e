"""The request line of MS-ASHTTP §2.2.1.1 (plain and base64-encoded query), sans I/O.

(Part 1 of issue 25 writes the parser; the shape is fixed here because web/eas/app.py
depends on it.)
"""

from __future__ import annotations

from dataclasses import dataclass, field


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


def parse(query: str) -> CommandLine:
    raise NotImplementedError("request.parse: part 1 of issue 25")
