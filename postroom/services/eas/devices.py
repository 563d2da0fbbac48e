"""The device registry (part 2 of issue 25 writes it; the skeleton admits every request)."""

from __future__ import annotations

from postroom.core.principal import Principal
from postroom.services.eas.context import EasContext
from postroom.services.eas.model import Admission, Device, Verdict
from postroom.services.eas.states import SyncStates


class Devices:
    def __init__(self, ctx: EasContext, states: SyncStates) -> None:
        self._ctx = ctx
        self._states = states

    async def admit(self, principal: Principal, device_id: str, device_type: str,
                    command: str, version: str, policy_key: str | None,
                    user_agent: str) -> Admission:
        """Before every command: register or refresh the device (last seen, version, user
        agent), then say whether the command may run (model.Verdict). Provision itself is
        always admitted (it is how a device leaves NEEDS_PROVISIONING and learns a wipe)."""
        device = Device(0, principal.account_id or 0, principal.address or "", device_id,
                        device_type)
        return Admission(Verdict.OK, device)
