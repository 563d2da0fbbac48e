"""ActiveSync's services: what web/eas/ (Exchange ActiveSync, MS-ASCMD) calls.

ActiveSync is a front-end like IMAP and DAV: it reads and writes the same folders, through
the same gate, and is woken by the same change feed. Mail items are the store's messages
(services/messages.py); calendar, contacts and tasks items are DAV items (services/dav/), so
one event is one stored iCalendar object that CalDAV, webmail and a phone all see.

The parts, one module each:

- ``devices``  the device registry: admission of every request (blocked, provisioning,
               policy key, pending wipe), Provision's policy and keys, remote wipe and
               account-only wipe, block/allow, device information; the CLI, API and
               WebAdmin's device pages call it too;
- ``states``   durable sync states per device and collection (current and previous SyncKey),
               so that a restart never forces a full resync and a retried request with the
               old key gets the same answer;
- ``folders``  the folder hierarchy a device sees (own, shared, public folders with l+r),
               folder ids, FolderCreate/Update/Delete;
- ``mail``     mail items for Sync, GetItemEstimate, ItemOperations, MoveItems: changes since
               a state, flags and read state both ways, moves, deletes, bodies;
- ``pim``      calendar, contacts and tasks items for Sync (over services/dav/): changes since
               a state, add/change/delete as DAV puts under the gate;
- ``push``     waiting for changes (Ping, Sync with Wait/HeartbeatInterval), bounded per user;
- ``compose``  SendMail, SmartReply, SmartForward through the submission service, Sent copy;
- ``search``   Search (mailbox, global address list) and ResolveRecipients.
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.config_eas import EasConfig
from postroom.core.principal import Principal
from postroom.services.eas.compose import Compose
from postroom.services.eas.context import EasContext
from postroom.services.eas.devices import Devices
from postroom.services.eas.folders import Folders
from postroom.services.eas.mail import MailItems
from postroom.services.eas.pim import PimItems
from postroom.services.eas.push import Push
from postroom.services.eas.search import Search
from postroom.services.eas.states import SyncStates


@dataclass(frozen=True, slots=True)
class Eas:
    """Everything ActiveSync's front-end calls; built once per server."""

    config: EasConfig
    devices: Devices
    states: SyncStates
    folders: Folders
    mail: MailItems
    pim: PimItems
    push: Push
    compose: Compose
    search: Search
    max_message_size: int  # limits.max_message_size: SendMail's bound

    async def close(self) -> None:
        await self.push.close()

    def stop_workers(self) -> None:
        """The mail service's render threads; last, when no request is left (app.py's
        Services.close), since ``close`` runs while listeners still drain theirs."""
        self.mail.close()


def build_eas(ctx: EasContext) -> Eas:
    states = SyncStates(ctx)
    folders = Folders(ctx)
    devices = Devices(ctx, states)
    push = Push(ctx)
    # a forgotten device's cached Ping parameters go with it (an empty Ping then gets 3)
    devices.on_forget.append(lambda device: push.forget(
        Principal(device.account_id, device.address, None), device))
    return Eas(ctx.config, devices, states, folders, MailItems(ctx, folders),
               PimItems(ctx, folders), push, Compose(ctx, folders), Search(ctx),
               ctx.max_message_size)
