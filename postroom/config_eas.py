"""Configuration of Exchange ActiveSync (``[web.eas]``).

Kept apart from config_web.py so that ActiveSync's keys and defaults sit together;
docs/eas.md explains them. Every limit is explicit, has a default a small company can live
with, and is enforced where the request enters (web/eas/) or where state is kept
(services/eas/).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta


def _d(text: str) -> Meta:
    return Meta(description=text)


class EasPolicyConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The device policy Provision hands out (MS-ASPROV §2.2.2.54 EASProvisionDoc).

    Defaults are permissive: a policy a phone accepts without asking its user for anything,
    so that provisioning never stands between a user and their mail; an administrator who
    wants a PIN turns it on here."""

    require_password: Annotated[bool, _d(
        "DevicePasswordEnabled: the device must be locked with a PIN or password.")] = False
    min_password_length: Annotated[int, _d(
        "MinDevicePasswordLength (with require_password)."), Meta(ge=1, le=16)] = 4
    alphanumeric_password: Annotated[bool, _d(
        "AlphanumericDevicePasswordRequired (with require_password).")] = False
    max_inactivity_lock: Annotated[int, _d(
        "MaxInactivityTimeDeviceLock in seconds; 0 = no limit."), Meta(ge=0, le=9999)] = 0
    max_failed_attempts: Annotated[int, _d(
        "MaxDevicePasswordFailedAttempts before the device wipes itself; 0 = no limit."),
                                   Meta(ge=0, le=16)] = 0
    require_encryption: Annotated[bool, _d(
        "RequireDeviceEncryption.")] = False
    allow_simple_password: Annotated[bool, _d(
        "AllowSimpleDevicePassword (1234, 1111).")] = True
    max_attachment_size: Annotated[int, _d(
        "MaxAttachmentSize the device should download, in octets; 0 = no limit."),
                                   Meta(ge=0)] = 0


class EasConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Exchange ActiveSync on the public web listeners, at /Microsoft-Server-ActiveSync."""

    enabled: Annotated[bool, _d(
        "Serve Exchange ActiveSync (MS-ASHTTP) at /Microsoft-Server-ActiveSync on the public "
        "web listeners, and the MobileSync Autodiscover answer.")] = True
    versions: Annotated[list[str], _d(
        "Protocol versions offered in MS-ASProtocolVersions; a request naming another gets "
        "HTTP 400 (MS-ASHTTP §3.2.5.1).")] = msgspec.field(
        default_factory=lambda: ["12.0", "12.1", "14.0", "14.1", "16.0", "16.1"])
    require_provisioning: Annotated[bool, _d(
        "Devices must Provision (accept the policy) before they sync; a device that does "
        "not gets Status 142 (HTTP 449 for 12.x).")] = True
    max_request_size: Annotated[int, _d(
        "Largest WBXML request body, in octets (SendMail's MIME is bounded by "
        "limits.max_message_size instead)."), Meta(ge=4096, le=64 << 20)] = 4 << 20
    max_wbxml_depth: Annotated[int, _d(
        "Deepest element nesting a WBXML request may have."), Meta(ge=8, le=256)] = 32
    max_wbxml_elements: Annotated[int, _d(
        "Most elements (and text or opaque pieces) a WBXML request may hold: bounds the "
        "memory one request can take (Status 102 beyond)."), Meta(ge=1000, le=10_000_000)] \
        = 100_000
    max_operations: Annotated[int, _d(
        "Most operations one request may carry: Sync commands per collection, "
        "ItemOperations fetches, MoveItems moves, GetItemEstimate collections, Settings "
        "sections (the request is refused with the command's protocol-error status beyond; "
        "as large as a Sync window by default, so marking a window read is one request)."),
                              Meta(ge=1, le=10_000)] = 512
    max_recipients: Annotated[int, _d(
        "Most recipients one SendMail, SmartReply or SmartForward may name (To, Cc and Bcc "
        "together), as SMTP submission and webmail bound it."), Meta(ge=1, le=10_000)] = 100
    max_window_size: Annotated[int, _d(
        "Most items one Sync response carries per collection (a client asking for more gets "
        "this many and MoreAvailable)."), Meta(ge=1, le=2000)] = 512
    max_sync_collections: Annotated[int, _d(
        "Most collections one Sync request may name."), Meta(ge=1, le=1000)] = 100
    min_heartbeat: Annotated[int, _d(
        "Shortest Ping/Sync heartbeat a device may ask for, in seconds (a shorter one gets "
        "Status 5 with this bound)."), Meta(ge=1, le=3540)] = 60
    max_heartbeat: Annotated[int, _d(
        "Longest Ping/Sync heartbeat, in seconds (MS-ASCMD: 3540 at most); keep it under "
        "any proxy's idle timeout."), Meta(ge=60, le=3540)] = 1680
    max_ping_folders: Annotated[int, _d(
        "Most folders one Ping may watch (Status 6 with this bound beyond)."),
                                Meta(ge=1, le=1000)] = 300
    max_pings_per_user: Annotated[int, _d(
        "Most concurrent Ping/Sync waits one user may hold (a new one from the same device "
        "replaces the old)."), Meta(ge=1, le=1000)] = 20
    max_devices_per_user: Annotated[int, _d(
        "Most devices one user may register; a new one beyond is refused with Status 177."),
                                    Meta(ge=1, le=1000)] = 20
    max_search_results: Annotated[int, _d(
        "Most results one Search (mailbox or global address list) or ResolveRecipients "
        "returns."), Meta(ge=1, le=1000)] = 100
    loop_threshold: Annotated[int, _d(
        "Identical Sync requests in a row (same keys, nothing changed) after which the "
        "device is told to wait (Status 16 / a longer heartbeat): protects against looping "
        "clients."), Meta(ge=2, le=1000)] = 10
    max_picture_size: Annotated[int, _d(
        "Largest contact picture sent to or accepted from a device, in octets (larger "
        "pictures are left out, as MS-ASCNTC allows)."), Meta(ge=0, le=1 << 20)] = 49152
    keep_sync_states: Annotated[int, _d(
        "Days a device that never returns keeps its sync state before it is forgotten "
        "(it then resyncs from scratch)."), Meta(ge=1, le=3650)] = 180
    policy: EasPolicyConfig = msgspec.field(default_factory=EasPolicyConfig)
