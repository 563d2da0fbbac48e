"""Settings (MS-ASCMD §2.2.1.18): device information, user information, out of office.

- DeviceInformation Set (Model, IMEI, FriendlyName, OS, OSLanguage, PhoneNumber, UserAgent,
  MobileOperator): kept on the device (services/eas/devices.py), shown by
  ``postroom device list``, the API and WebAdmin;
- UserInformation Get: the user's address (and, for 14.1 and later, the Accounts form);
- Oof Get and Set: the out-of-office reply is the vacation of the user's rules
  (services/sieve/rules.py: Sieve vacation, RFC 5230, in the script webmail's filters page
  writes), so a phone, webmail and a ManageSieve client see one setting (web/eas/oof.py);
- DevicePassword Set: acknowledged (Status 1) and not stored — the server never holds a
  device's unlock code;
- RightsManagementInformation Get: no templates (IRM is not offered).

Any other section: Status 2 (protocol error) for that section, the rest answered.
"""

from __future__ import annotations

from postroom.protocols.eas.element import E, Element
from postroom.web.eas import oof
from postroom.web.eas.common import CommandContext

NS = "Settings"


async def handle(ctx: CommandContext, body: Element | None) -> Element:
    answer = E(NS, "Settings")
    if body is None or body.name != "Settings":
        answer.add(NS, "Status", 2)
        return answer
    if len(body.children) > ctx.eas.config.max_operations:
        answer.add(NS, "Status", 2)
        return answer
    answer.add(NS, "Status", 1)
    for section in body.children:
        out = answer.add(NS, section.name) if section.ns == NS else None
        if out is None:
            continue
        if section.name == "DeviceInformation":
            fields = section.find("Set")
            if fields is not None:
                await ctx.eas.devices.set_information(
                    ctx.device, {c.name: c.text or "" for c in fields.children})
            out.add(NS, "Status", 1)
        elif section.name == "UserInformation":
            out.add(NS, "Status", 1)
            got = out.add(NS, "Get")
            address = ctx.principal.address or ""
            if ctx.at_least("14.1"):
                account = got.add(NS, "Accounts").add(NS, "Account")
                account.add(NS, "UserDisplayName", address)
                emails = account.add(NS, "EmailAddresses")
                emails.add(NS, "PrimarySmtpAddress", address)
            else:
                got.add(NS, "EmailAddresses").add(NS, "SmtpAddress", address)
        elif section.name == "Oof":
            await oof.answer(ctx, section, out)
        elif section.name == "DevicePassword":
            out.add(NS, "Status", 1)
        elif section.name == "RightsManagementInformation":
            out.add(NS, "Status", 1)
            out.add(NS, "Get")
        else:
            out.add(NS, "Status", 2)
    return answer
