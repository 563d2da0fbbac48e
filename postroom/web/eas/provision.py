"""Provision (MS-ASPROV §3.2.5.1, MS-ASCMD §2.2.1.14): the policy, its keys, remote wipe.

Three request shapes, each answered here:

1. the first phase: ``Policies/Policy/PolicyType`` ``MS-EAS-Provisioning-WBXML`` (with a
   ``Settings:DeviceInformation`` block from 14.1, stored on the device) → Status 1, the
   EASProvisionDoc built from ``[web.eas.policy]`` and a temporary PolicyKey;
2. the acknowledgement: the same with that PolicyKey and Status 1 → the final PolicyKey,
   which the device sends as X-MS-PolicyKey from then on (Policy Status 5 for a key that is
   not the one handed out);
3. a pending wipe: any Provision is answered with ``RemoteWipe`` (or, for 16.1 and an
   account-only wipe, ``AccountOnlyRemoteWipe``); the device's ``RemoteWipe/Status``
   acknowledgement marks it done.

Unknown PolicyType → Policy Status 3; a request that is none of these → Provision Status 2.
"""

from __future__ import annotations

from postroom.config_eas import EasPolicyConfig
from postroom.protocols.eas.element import E, Element
from postroom.services.eas.model import WipeState
from postroom.web.eas.common import CommandContext

NS = "Provision"
POLICY_TYPE = "MS-EAS-Provisioning-WBXML"
LEGACY_POLICY_TYPE = "MS-WAP-Provisioning-XML"  # 2.5/12.0 XML policies: not offered


async def handle(ctx: CommandContext, body: Element | None) -> Element:
    devices = ctx.eas.devices
    if body is None or body.name != "Provision":
        return _status(2)
    info = body.find("DeviceInformation", "Settings")
    answer = E(NS, "Provision")
    if info is not None:
        fields = {c.name: c.text or "" for c in (info.find("Set") or info).children}
        await devices.set_information(ctx.device, fields)
    wipe_ack = body.find("RemoteWipe") or body.find("AccountOnlyRemoteWipe")
    if ctx.device.wipe in (WipeState.REQUESTED, WipeState.ACCOUNT_REQUESTED, WipeState.SENT):
        if wipe_ack is not None and ctx.device.wipe is WipeState.SENT:
            # only a device that was sent the wipe can acknowledge it
            await devices.wiped(ctx.device, wipe_ack.value("Status", "1") or "1")
            answer.add(NS, "Status", 1)
            return answer
        if info is not None:
            answer.append(E("Settings", "DeviceInformation", E("Settings", "Status", text=1)))
        answer.add(NS, "Status", 1)
        account_only = await devices.account_only(ctx.device) and ctx.at_least("16.1")
        answer.add(NS, "AccountOnlyRemoteWipe" if account_only else "RemoteWipe")
        await devices.wipe_sent(ctx.device)
        return answer
    policy = body.path("Policies", "Policy")
    if policy is None:
        return _status(2)
    if info is not None:
        answer.append(E("Settings", "DeviceInformation", E("Settings", "Status", text=1)))
    answer.add(NS, "Status", 1)
    policies = answer.add(NS, "Policies")
    out = policies.add(NS, "Policy")
    kind = policy.value("PolicyType", "") or ""
    out.add(NS, "PolicyType", kind)
    if kind != POLICY_TYPE:
        out.add(NS, "Status", 3)  # MS-ASPROV §2.2.2.53.2: unknown PolicyType
        return answer
    key = policy.value("PolicyKey")
    if key:  # the acknowledgement of phase 1
        if policy.value("Status", "1") not in ("1", ""):
            # the device could not apply the policy (2: partially, 3: not at all, 4:
            # externally managed): it stays unprovisioned, so it is refused with 142
            out.add(NS, "Status", 1)
            return answer
        final = await devices.acknowledge(ctx.device, key)
        if final is None:
            out.add(NS, "Status", 5)  # the policy key does not match
            return answer
        out.add(NS, "Status", 1)
        out.add(NS, "PolicyKey", final)
        return answer
    temporary = await devices.begin_provisioning(ctx.device)
    out.add(NS, "Status", 1)
    out.add(NS, "PolicyKey", temporary)
    out.append(E(NS, "Data", provision_doc(ctx.eas.config.policy)))
    return answer


def _status(status: int) -> Element:
    return E(NS, "Provision", E(NS, "Status", text=status))


def provision_doc(p: EasPolicyConfig) -> Element:
    """EASProvisionDoc (MS-ASPROV §2.2.2.27) from the configured policy. Everything not
    configurable is the permissive value: the server does not pretend to enforce what it
    cannot check (cameras, Wi-Fi, application lists)."""
    b = int
    values: list[tuple[str, int | str | None]] = [
        ("DevicePasswordEnabled", b(p.require_password)),
        ("AlphanumericDevicePasswordRequired", b(p.alphanumeric_password)),
        ("PasswordRecoveryEnabled", 0),
        ("RequireStorageCardEncryption", 0),
        ("AttachmentsEnabled", 1),
        ("MinDevicePasswordLength", p.min_password_length if p.require_password else None),
        ("MaxInactivityTimeDeviceLock", p.max_inactivity_lock or None),
        ("MaxDevicePasswordFailedAttempts", p.max_failed_attempts or None),
        ("MaxAttachmentSize", p.max_attachment_size or None),
        ("AllowSimpleDevicePassword", b(p.allow_simple_password)),
        ("DevicePasswordExpiration", None),
        ("DevicePasswordHistory", 0),
        ("AllowStorageCard", 1),
        ("AllowCamera", 1),
        ("RequireDeviceEncryption", b(p.require_encryption)),
        ("AllowUnsignedApplications", 1),
        ("AllowUnsignedInstallationPackages", 1),
        ("MinDevicePasswordComplexCharacters", 1),
        ("AllowWiFi", 1),
        ("AllowTextMessaging", 1),
        ("AllowPOPIMAPEmail", 1),
        ("AllowBluetooth", 2),
        ("AllowIrDA", 1),
        ("RequireManualSyncWhenRoaming", 0),
        ("AllowDesktopSync", 1),
        ("MaxCalendarAgeFilter", 0),
        ("AllowHTMLEmail", 1),
        ("MaxEmailAgeFilter", 0),
        ("MaxEmailBodyTruncationSize", -1),
        ("MaxEmailHTMLBodyTruncationSize", -1),
        ("RequireSignedSMIMEMessages", 0),
        ("RequireEncryptedSMIMEMessages", 0),
        ("RequireSignedSMIMEAlgorithm", 0),
        ("RequireEncryptionSMIMEAlgorithm", 0),
        ("AllowSMIMEEncryptionAlgorithmNegotiation", 2),
        ("AllowSMIMESoftCerts", 1),
        ("AllowBrowser", 1),
        ("AllowConsumerEmail", 1),
        ("AllowRemoteDesktop", 1),
        ("AllowInternetSharing", 1),
    ]
    doc = E(NS, "EASProvisionDoc")
    for name, value in values:
        if value is None:
            doc.add(NS, name)  # empty: "no limit" (MS-ASPROV §2.2.2.*)
        else:
            doc.add(NS, name, value)
    doc.add(NS, "UnapprovedInROMApplicationList")
    doc.add(NS, "ApprovedApplicationList")
    return doc
