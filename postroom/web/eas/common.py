"""What every ActiveSync command module is given, and the common status codes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from postroom.core.principal import Principal
from postroom.protocols.eas.element import E, Element
from postroom.protocols.eas.request import CommandLine
from postroom.services.eas import Eas
from postroom.services.eas.model import Device
from postroom.web.context import WebServices, WebSettings


class Common(enum.IntEnum):
    """MS-ASCMD §2.2.2 Status, the codes every command may answer (14.0 and later; for 12.x
    the HTTP status of MS-ASHTTP §3.2.5.1 carries the same meaning)."""

    INVALID_CONTENT = 101
    INVALID_WBXML = 102
    INVALID_XML = 103
    INVALID_DATETIME = 104
    INVALID_COMBINATION_OF_IDS = 105
    INVALID_IDS = 106
    INVALID_MIME = 107
    DEVICE_ID_MISSING_OR_INVALID = 108
    DEVICE_TYPE_MISSING_OR_INVALID = 109
    SERVER_ERROR = 110
    SERVER_ERROR_RETRY_LATER = 111
    MAILBOX_QUOTA_EXCEEDED = 113
    MAILBOX_SERVER_OFFLINE = 114
    SEND_QUOTA_EXCEEDED = 115
    MESSAGE_RECIPIENT_UNRESOLVED = 116
    MESSAGE_REPLY_NOT_ALLOWED = 117
    MESSAGE_PREVIOUSLY_SENT = 118
    MESSAGE_HAS_NO_RECIPIENT = 119
    MAIL_SUBMISSION_FAILED = 120
    MESSAGE_REPLY_FAILED = 121
    ATTACHMENT_IS_TOO_LARGE = 122
    USER_HAS_NO_MAILBOX = 123
    USER_CANNOT_BE_ANONYMOUS = 124
    USER_PRINCIPAL_COULD_NOT_BE_FOUND = 125
    USER_DISABLED_FOR_SYNC = 126
    USER_ON_NEW_MAILBOX_CANNOT_SYNC = 127
    USER_ON_LEGACY_MAILBOX_CANNOT_SYNC = 128
    DEVICE_IS_BLOCKED_FOR_THIS_USER = 129
    ACCESS_DENIED = 130
    ACCOUNT_DISABLED = 131
    SYNC_STATE_NOT_FOUND = 132
    SYNC_STATE_LOCKED = 133
    SYNC_STATE_CORRUPT = 134
    SYNC_STATE_ALREADY_EXISTS = 135
    SYNC_STATE_VERSION_INVALID = 136
    COMMAND_NOT_SUPPORTED = 137
    VERSION_NOT_SUPPORTED = 138
    DEVICE_NOT_FULLY_PROVISIONABLE = 139
    REMOTE_WIPE_REQUESTED = 140
    LEGACY_DEVICE_ON_STRICT_POLICY = 141
    DEVICE_NOT_PROVISIONED = 142
    POLICY_REFRESH = 143
    INVALID_POLICY_KEY = 144
    EXTERNALLY_MANAGED_DEVICES_NOT_ALLOWED = 145
    NO_RECURRENCE_IN_CALENDAR = 146
    UNEXPECTED_ITEM_CLASS = 147
    REMOTE_SERVER_HAS_NO_SSL = 148
    INVALID_STORED_REQUEST = 149
    ITEM_NOT_FOUND = 150
    TOO_MANY_FOLDERS = 151
    NO_FOLDERS_FOUND = 152
    ITEMS_LOST_AFTER_MOVE = 153
    FAILURE_IN_MOVE_OPERATION = 154
    MOVE_COMMAND_DISALLOWED_FOR_NON_PERSISTENT_MOVE_ACTION = 155
    MOVE_COMMAND_INVALID_DESTINATION_FOLDER = 156
    AVAILABILITY_TOO_MANY_RECIPIENTS = 160
    AVAILABILITY_DL_LIMIT_REACHED = 161
    AVAILABILITY_TRANSIENT_FAILURE = 162
    AVAILABILITY_FAILURE = 163
    BODY_PART_PREFERENCE_TYPE_NOT_SUPPORTED = 164
    DEVICE_INFORMATION_REQUIRED = 165
    INVALID_ACCOUNT_ID = 166
    ACCOUNT_SEND_DISABLED = 167
    IRM_FEATURE_DISABLED = 168
    IRM_TRANSIENT_ERROR = 169
    IRM_PERMANENT_ERROR = 170
    IRM_INVALID_TEMPLATE_ID = 171
    IRM_OPERATION_NOT_PERMITTED = 172
    NO_PICTURE = 173
    PICTURE_TOO_LARGE = 174
    PICTURE_LIMIT_REACHED = 175
    BODY_PART_CONVERSATION_TOO_LARGE = 176
    MAXIMUM_DEVICES_REACHED = 177


# The root element of each command's request and response (MS-ASCMD §2.2.1): a common
# status is answered inside it, e.g. <FolderSync><Status>142</Status></FolderSync>.
ROOTS: dict[str, tuple[str, str]] = {
    "Sync": ("AirSync", "Sync"),
    "GetItemEstimate": ("GetItemEstimate", "GetItemEstimate"),
    "FolderSync": ("FolderHierarchy", "FolderSync"),
    "FolderCreate": ("FolderHierarchy", "FolderCreate"),
    "FolderUpdate": ("FolderHierarchy", "FolderUpdate"),
    "FolderDelete": ("FolderHierarchy", "FolderDelete"),
    "MoveItems": ("Move", "MoveItems"),
    "Ping": ("Ping", "Ping"),
    "Provision": ("Provision", "Provision"),
    "ItemOperations": ("ItemOperations", "ItemOperations"),
    "SendMail": ("ComposeMail", "SendMail"),
    "SmartReply": ("ComposeMail", "SmartReply"),
    "SmartForward": ("ComposeMail", "SmartForward"),
    "Search": ("Search", "Search"),
    "Settings": ("Settings", "Settings"),
    "ResolveRecipients": ("ResolveRecipients", "ResolveRecipients"),
    "MeetingResponse": ("MeetingResponse", "MeetingResponse"),
}

# The command of each module (web/eas/<module>.py has ``async def handle(ctx, body)``)
MODULES: dict[str, str] = {
    "Provision": "provision",
    "FolderSync": "folders", "FolderCreate": "folders", "FolderUpdate": "folders",
    "FolderDelete": "folders",
    "Ping": "ping",
    "Sync": "sync", "GetItemEstimate": "sync",
    "ItemOperations": "items", "MoveItems": "items", "GetAttachment": "items",
    "SendMail": "compose", "SmartReply": "compose", "SmartForward": "compose",
    "Search": "search", "ResolveRecipients": "search",
    "Settings": "settings",
    "MeetingResponse": "meeting",
}

# Commands whose ≤ 12.1 body is a raw message (message/rfc822), bounded by the message limit
MIME_BODIES = frozenset({"SendMail", "SmartReply", "SmartForward"})


@dataclass(slots=True)
class CommandContext:
    """One authenticated, admitted request, as a command module sees it."""

    request: Request
    line: CommandLine
    version: str  # the protocol version of this request ("14.1", "16.1", …)
    principal: Principal
    device: Device
    eas: Eas
    services: WebServices
    settings: WebSettings
    raw: bytes  # the body as received (a ≤ 12.1 SendMail's MIME; empty when none)
    # what one request looks up once for many operations (folder handles, the Trash)
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def command(self) -> str:
        return self.line.command

    def at_least(self, version: str) -> bool:
        """This request's version is ``version`` or later (versions compare as numbers)."""
        return _number(self.version) >= _number(version)


def _number(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (0,)


def status_element(command: str, status: int) -> Element:
    """``<Root><Status>n</Status></Root>`` for a common status (MS-ASCMD §2.2.2)."""
    ns, name = ROOTS.get(command, ("AirSync", command))
    return E(ns, name, E(ns, "Status", text=status))
