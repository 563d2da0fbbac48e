"""Exchange ActiveSync's front-end (MS-ASHTTP, MS-ASCMD): parse, call services/eas/, render.

- ``app``       the ASGI application at /Microsoft-Server-ActiveSync: OPTIONS, the request
                line, Basic authentication, version, device admission, body limits, WBXML
                in and out, one dispatch table, the common status codes; never a 500;
- ``common``    what every command module gets (CommandContext) and the common statuses;
- ``classes``   the contract between Sync and the item classes (Email, Calendar, Contacts,
                Tasks): options, server changes, the ItemClass protocol;
- one module per command family: ``provision``, ``folders`` (FolderSync, FolderCreate,
  FolderUpdate, FolderDelete), ``ping``, ``sync`` (Sync, GetItemEstimate), ``items``
  (ItemOperations, MoveItems, GetAttachment), ``compose`` (SendMail, SmartReply,
  SmartForward), ``search`` (Search, ResolveRecipients), ``settings``, ``meeting``
  (MeetingResponse); and one per item class: ``email``, ``calendar``, ``contacts``,
  ``tasks`` (AirSync ApplicationData ↔ the stored message or iCalendar/vCard item).
"""

from __future__ import annotations

PATH = "/Microsoft-Server-ActiveSync"
