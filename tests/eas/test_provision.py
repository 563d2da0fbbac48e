"""Provision, the device registry and remote wipe on a real server (require_provisioning on,
the default): the two phases (pyactivesync, as a phone, and the raw client at 14.1), the
statuses of an unprovisioned device (142) and a stale key (144), a blocked device (129 / 403),
and a wipe asked for from the CLI that reaches the device at its next request (acceptance)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from postroom.protocols.eas.element import E
from tests.support.dav import Dav
from tests.support.eas import EasClient
from tests.support.server import RunningServer, run_cli
from tests.support.webmail import PASSWORD

_names = itertools.count(1)


@pytest.fixture(scope="module")
def eas_extra() -> list[str]:
    """This module's limits for the shared ActiveSync server (tests/eas/conftest.py)."""
    return ["web.eas.max_devices_per_user=3"]


def _user(dav: Dav) -> str:
    return dav.account(f"prov{next(_names)}@example.test")


def _devices(srv: RunningServer, address: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(run_cli(srv, "device", "list", "--user", address,
                                                    "--json"))
    return rows


def test_a_phone_provisions_then_syncs_its_folders(srv: RunningServer, dav: Dav) -> None:
    pyactivesync = pytest.importorskip("pyactivesync")
    me = _user(dav)
    phone = pyactivesync.Client(f"127.0.0.1:{srv.port('https')}", me, PASSWORD,
                                device_id="ProvPhone1", device_type="iPhone",
                                verify_ssl=False, timeout=30)
    phone._transport.session.trust_env = False
    try:
        key = phone.provision()
        assert key.isdigit() and key != "0"
        types = {int(f.type) for f in phone.list_folders()}
        assert {2, 3, 4, 5, 8, 9} <= types, types  # Inbox, Drafts, Deleted, Sent, Calendar…
    finally:
        phone.close()
    [row] = _devices(srv, me)
    assert row["device"] == "ProvPhone1" and row["policy"] == "provisioned"
    assert row["model"] == "pyactivesync"  # DeviceInformation from the first phase


def test_unprovisioned_and_stale_keys_get_their_statuses(srv: RunningServer, dav: Dav) -> None:
    me = _user(dav)
    client = EasClient(srv, me, device="RawPhone1")
    root = client.folder_sync()
    assert root.value("Status") == "142"  # DeviceNotProvisioned (MS-ASCMD §2.2.2)
    client.provision()
    assert client.folder_sync().value("Status") == "1"
    client.policy_key = "12345"
    assert client.folder_sync().value("Status") == "144"  # InvalidPolicyKey
    old = EasClient(srv, me, device="OldPhone1", version="12.1")
    status, _, _ = old.send("FolderSync", E("FolderHierarchy", "FolderSync",
                                            E("FolderHierarchy", "SyncKey", text="0")))
    assert status == 449  # 12.x learns "provision first" from HTTP (MS-ASHTTP §3.2.5.1)


def test_a_wipe_from_the_cli_reaches_the_device_at_its_next_request(
        srv: RunningServer, dav: Dav) -> None:
    me = _user(dav)
    client = EasClient(srv, me, device="LostPhone1")
    client.provision()
    assert client.folder_sync().value("Status") == "1"
    run_cli(srv, "device", "wipe", me, "LostPhone1")
    assert client.folder_sync().value("Status") == "140"  # RemoteWipeRequested
    ns = "Provision"
    _, _, root = client.send("Provision", E(ns, "Provision", E(ns, "Policies", E(
        ns, "Policy", E(ns, "PolicyType", text="MS-EAS-Provisioning-WBXML")))))
    assert root is not None and root.has("RemoteWipe"), root
    [row] = _devices(srv, me)
    assert row["wipe"] == "sent"
    _, _, root = client.send("Provision", E(ns, "Provision", E(ns, "RemoteWipe", E(
        ns, "Status", text=1))))
    assert root is not None and root.value("Status") == "1"
    [row] = _devices(srv, me)
    assert row["wipe"] == "done"
    audit = run_cli(srv, "audit", "list", "--json")
    assert "eas.wipe" in audit and "eas.wiped" in audit  # who asked, and the device's answer


def test_account_only_wipe_is_never_a_whole_device_wipe(srv: RunningServer, dav: Dav) -> None:
    me = _user(dav)
    new = EasClient(srv, me, device="NewPhone1", version="16.1")
    new.provision()
    old = EasClient(srv, me, device="OldPhone2", version="14.1")
    old.provision()
    run_cli(srv, "device", "wipe", me, "NewPhone1", "--account-only")
    run_cli(srv, "device", "wipe", me, "OldPhone2", "--account-only")
    ns = "Provision"
    first = E(ns, "Provision", E(ns, "Policies", E(ns, "Policy", E(
        ns, "PolicyType", text="MS-EAS-Provisioning-WBXML"))))
    _, _, root = new.send("Provision", first)
    assert root is not None and root.has("AccountOnlyRemoteWipe") and not root.has("RemoteWipe")
    # 14.1 has no account-only wipe: the device is shut out, not wiped
    assert old.folder_sync().value("Status") == "129"


def test_block_allow_and_the_device_bound(srv: RunningServer, dav: Dav) -> None:
    me = _user(dav)
    phones = [EasClient(srv, me, device=f"Many{i}") for i in range(4)]
    for phone in phones[:3]:
        phone.provision()
    assert phones[3].folder_sync().value("Status") == "177"  # MaximumDevicesReached
    run_cli(srv, "device", "block", me, "Many0")
    assert phones[0].folder_sync().value("Status") == "129"
    run_cli(srv, "device", "allow", me, "Many0")
    assert phones[0].folder_sync().value("Status") == "1"
    run_cli(srv, "device", "forget", me, "Many1")
    assert phones[3].folder_sync().value("Status") == "142"  # room again: now provision
    out = run_cli(srv, "device", "wipe", me, "NoSuchPhone", ok=False)
    assert "no device" in out


def test_a_wiped_device_stays_out_and_an_unsent_wipe_cannot_be_acknowledged(
        srv: RunningServer, dav: Dav) -> None:
    """Security review, finding 3: acknowledging a wipe was a way back in with the old
    policy key; and a device could acknowledge a wipe it was never sent."""
    me = _user(dav)
    client = EasClient(srv, me, device="Sly1")
    key = client.provision()
    run_cli(srv, "device", "wipe", me, "Sly1")
    ns = "Provision"
    ack = E(ns, "Provision", E(ns, "RemoteWipe", E(ns, "Status", text=1)))
    _, _, root = client.send("Provision", ack)  # not sent yet: answered with the wipe
    assert root is not None and root.has("RemoteWipe")
    [row] = _devices(srv, me)
    assert row["wipe"] == "sent"
    client.send("Provision", ack)
    [row] = _devices(srv, me)
    assert row["wipe"] == "done"
    client.policy_key = key  # the old key opens nothing any more
    assert client.folder_sync().value("Status") == "129"
    _, _, root = client.send("Provision", E(ns, "Provision", E(ns, "Policies", E(
        ns, "Policy", E(ns, "PolicyType", text="MS-EAS-Provisioning-WBXML")))))
    assert root is not None and root.value("Status") == "129"
    run_cli(srv, "device", "forget", me, "Sly1")  # only an administrator lets it back
    client.provision()
    assert client.folder_sync().value("Status") == "1"
