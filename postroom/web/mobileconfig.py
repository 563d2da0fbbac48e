"""An Apple configuration profile (``.mobileconfig``) for a user's mail account: IMAP and SMTP
submission from the client-configuration service (services/clientconfig.py), no password
inside (the device asks for it; with two-factor authentication on, give it an app password).

The profile is an XML property list (plistlib) with one ``com.apple.mail.managed`` payload,
the keys of Apple's "Mail" payload in its Configuration Profile Reference. Its UUIDs are
derived from the host name and the address, so downloading it again replaces the installed
profile instead of adding a second account. It is not signed (a device shows it as
"Unsigned"); signing needs the certificate of a CA the device trusts.
"""

from __future__ import annotations

import plistlib
import uuid

from postroom.services.clientconfig import ClientSettings

MEDIA_TYPE = "application/x-apple-aspen-config"


def profile(settings: ClientSettings, address: str) -> bytes | None:
    """The profile for ``address``, or None when the server offers no IMAP or no submission
    listener with TLS (a profile without them would be useless)."""
    imap, smtp = settings.of("imap"), settings.of("smtp")
    if not imap or not smtp:
        return None
    host = settings.hostname
    ident = ".".join(reversed(host.split("."))) + ".postroom.mail"

    def uid(part: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"postroom:{host}:{address}:{part}")).upper()

    mail = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{ident}.{address}.account",
        "PayloadUUID": uid("account"),
        "PayloadDisplayName": f"Mail ({address})",
        "EmailAccountDescription": address,
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAddress": address,
        "IncomingMailServerHostName": host,
        "IncomingMailServerPortNumber": imap[0].port,
        "IncomingMailServerUseSSL": True,  # implicit TLS, or STARTTLS on 143
        "IncomingMailServerUsername": settings.username,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": host,
        "OutgoingMailServerPortNumber": smtp[0].port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerUsername": settings.username,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    document = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{ident}.{address}",
        "PayloadUUID": uid("profile"),
        "PayloadDisplayName": f"Mail at {host}",
        "PayloadDescription": f"IMAP and SMTP settings for {address}. The device asks for "
                              "the password.",
        "PayloadOrganization": host,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [mail],
    }
    return plistlib.dumps(document, fmt=plistlib.FMT_XML)
