"""The HTTP face of ActiveSync (web/eas/app.py, MS-ASHTTP) on a real server: OPTIONS, the
path in any letter case, authentication, the request line in both forms, protocol versions,
and bad bodies (malformed WBXML, too deep, too large). Every refusal is the status the spec
names (400, 401, 405, 413 for 12.x; the common Status 101/102 inside the command's root for
14.0+) and never a 500."""

from __future__ import annotations

import base64
import random
import struct
from collections.abc import Callable
from urllib.parse import quote

import pytest

from postroom.protocols.eas import wbxml
from postroom.protocols.eas.element import E
from tests.support.eas import PATH, EasClient
from tests.support.server import RunningServer

MAX_REQUEST = 8192
FOLDER_SYNC = E("FolderHierarchy", "FolderSync", E("FolderHierarchy", "SyncKey", text="0"))


@pytest.fixture(scope="module")
def eas_extra() -> list[str]:
    return [f"web.eas.max_request_size={MAX_REQUEST}", "web.eas.max_wbxml_depth=16",
            "web.eas.max_operations=20"]


@pytest.fixture(scope="module")
def phone(client_for: Callable[..., EasClient]) -> EasClient:
    return client_for("transport@example.test", device="TransportPhone1")


def test_options_offers_versions_and_commands_without_credentials(phone: EasClient) -> None:
    status, headers = phone.options(auth=False)
    assert status == 200
    versions = headers["ms-asprotocolversions"].split(",")
    assert {"14.1", "16.1"} <= set(versions)
    commands = headers["ms-asprotocolcommands"].split(",")
    assert {"Sync", "FolderSync", "Ping", "Provision", "SendMail"} <= set(commands)
    assert "POST" in headers["allow"] and "OPTIONS" in headers["allow"]
    assert headers["ms-server-activesync"] == versions[-1]


def test_options_with_a_wrong_password_is_401(phone: EasClient) -> None:
    other = EasClient.__new__(EasClient)
    other.__dict__.update(phone.__dict__)
    other.password = "not the password"
    status, headers = other.options()
    assert status == 401 and headers["www-authenticate"].startswith("Basic")
    assert phone.options()[0] == 200


def test_the_path_in_any_letter_case(phone: EasClient) -> None:
    for path in (PATH.lower(), PATH.upper(), "/microsoft-server-ActiveSync"):
        status, _, _ = phone.http("OPTIONS", path)
        assert status == 200, path


def test_methods_other_than_options_and_post_are_405(phone: EasClient) -> None:
    status, headers, _ = phone.http("GET", f"{PATH}?Cmd=Sync&DeviceId=A1&DeviceType=X")
    assert status == 405 and "POST" in headers["allow"]


def test_no_or_bad_credentials_are_401_with_a_challenge(phone: EasClient) -> None:
    query = "Cmd=FolderSync&User=transport@example.test&DeviceId=TransportPhone1&" \
            "DeviceType=TestPhone"
    status, headers, _ = phone.http("POST", f"{PATH}?{query}", wbxml.encode(FOLDER_SYNC),
                                    auth=False, headers={"MS-ASProtocolVersion": "14.1"})
    assert status == 401 and headers["www-authenticate"].startswith("Basic")
    status, headers, _ = phone.http(
        "POST", f"{PATH}?{query}", wbxml.encode(FOLDER_SYNC), auth=False,
        headers={"MS-ASProtocolVersion": "14.1", "Authorization": "Basic " + base64.b64encode(
            b"transport@example.test:wrong").decode()})
    assert status == 401
    status, _, _ = phone.http("POST", f"{PATH}?{query}", wbxml.encode(FOLDER_SYNC),
                              auth=False, headers={"MS-ASProtocolVersion": "14.1",
                                                   "Authorization": "Basic !!!"})
    assert status == 401


@pytest.mark.parametrize("query", [
    "",                                                             # nothing
    "User=a&DeviceId=A1&DeviceType=X",                              # no Cmd
    "Cmd=Frobnicate&DeviceId=A1&DeviceType=X",                      # unknown command
    "Cmd=FolderSync&DeviceType=X",                                  # no DeviceId
    "Cmd=FolderSync&DeviceId=&DeviceType=X",                        # empty DeviceId
    "Cmd=FolderSync&DeviceId=" + "A" * 33 + "&DeviceType=X",        # 33 characters
    "Cmd=FolderSync&DeviceId=A%2F..%2Fb&DeviceType=X",              # unsafe characters
    "Cmd=FolderSync&DeviceId=A1",                                   # no DeviceType
    "not*base64*at*all",                                            # neither form
    quote(base64.b64encode(bytes([141, 9, 9, 4, 10, 65])).decode()),  # truncated base64
    quote(base64.b64encode(bytes([141, 99, 9, 4, 1, 65, 0, 1, 88])).decode()),  # code 99
])
def test_a_bad_request_line_is_400(phone: EasClient, query: str) -> None:
    status, _, body = phone.http("POST", f"{PATH}?{query}", wbxml.encode(FOLDER_SYNC),
                                 headers={"MS-ASProtocolVersion": "14.1"})
    assert status == 400, body


@pytest.mark.parametrize("version", ["", "2.5", "13.0", "99.9", "abc"])
def test_a_version_not_offered_is_400(phone: EasClient, version: str) -> None:
    status, _, _ = phone.post("FolderSync", wbxml.encode(FOLDER_SYNC),
                              headers={"MS-ASProtocolVersion": version})
    assert status == 400


def _base64_line(command_code: int, device: str, device_type: str, policy_key: str | None,
                 version: int = 141, params: bytes = b"") -> str:
    """MS-ASHTTP §2.2.1.1.1.1: version, command code, locale, DeviceId, PolicyKey,
    DeviceType, then tag-length-value parameters."""
    key = struct.pack("<I", int(policy_key)) if policy_key else b""
    raw = bytes([version, command_code]) + struct.pack("<H", 0x0409) \
        + bytes([len(device)]) + device.encode() + bytes([len(key)]) + key \
        + bytes([len(device_type)]) + device_type.encode() + params
    return quote(base64.b64encode(raw).decode(), safe="")


def test_the_base64_request_line_carries_version_and_policy_key(phone: EasClient) -> None:
    # FolderSync is code 9; the version and the policy key travel in the query, not headers
    query = _base64_line(9, phone.device, phone.device_type, phone.policy_key)
    status, headers, body = phone.http("POST", f"{PATH}?{query}", wbxml.encode(FOLDER_SYNC),
                                       headers={"Content-Type": "application/vnd.ms-sync.wbxml"})
    assert status == 200 and headers["content-type"].startswith("application/vnd.ms-sync")
    root = wbxml.decode(body)
    assert (root.ns, root.name, root.value("Status")) == ("FolderHierarchy", "FolderSync", "1")
    # the same line without the policy key: the device is asked to provision again
    query = _base64_line(9, phone.device, phone.device_type, None)
    status, _, body = phone.http("POST", f"{PATH}?{query}", wbxml.encode(FOLDER_SYNC))
    assert status == 200 and wbxml.decode(body).value("Status") in {"142", "144"}


def _status(phone: EasClient, body: bytes, **kw: object) -> tuple[int, str | None]:
    status, _, data = phone.post("FolderSync", body, **kw)  # type: ignore[arg-type]
    assert status != 500
    if status != 200 or not data:
        return status, None
    root = wbxml.decode(data)
    assert (root.ns, root.name) == ("FolderHierarchy", "FolderSync")
    return status, root.value("Status")


def test_malformed_wbxml_is_status_102(phone: EasClient) -> None:
    for body in (b"\x03\x01\x6a\x00\x45", b"\x03\x01\x6a\x00\x00\x99\x45\x01",
                 b"\x03\x01\x6a\x00\x00\x07\x56\x03abc", wbxml.HEADER + b"\x56\x01\x01"):
        assert _status(phone, body) == (200, "102"), body


def test_too_deep_is_status_102(phone: EasClient) -> None:
    deep = wbxml.HEADER + b"\x00\x07" + b"\x56" * 20 + b"\x01" * 20
    assert _status(phone, deep) == (200, "102")


def test_too_large_is_status_101_and_413_for_12x(phone: EasClient) -> None:
    big = wbxml.encode(E("FolderHierarchy", "FolderSync",
                         E("FolderHierarchy", "SyncKey", text="x" * (MAX_REQUEST + 10))))
    assert _status(phone, big) == (200, "101")
    status, _, _ = phone.post("FolderSync", big, headers={"MS-ASProtocolVersion": "12.1"})
    assert status == 413
    # just under the bound is read and answered by the command (a bad key, not a refusal)
    small = wbxml.encode(E("FolderHierarchy", "FolderSync",
                           E("FolderHierarchy", "SyncKey", text="9" * 100)))
    code, value = _status(phone, small)
    assert code == 200 and value not in {"101", "102"}


def test_12x_malformed_wbxml_is_400(phone: EasClient) -> None:
    status, _, _ = phone.post("FolderSync", b"\x03\x01\x6a\x00\x45",
                              headers={"MS-ASProtocolVersion": "12.1"})
    assert status in {400, 449}  # 449 when 12.1 must provision first: still not a 500


def test_random_bodies_never_make_a_500(phone: EasClient) -> None:
    rng = random.Random(25)
    for _ in range(25):
        body = wbxml.HEADER + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60)))
        status, _, data = phone.post(rng.choice(["FolderSync", "Sync", "Ping", "Settings"]),
                                     body, timeout=20)
        assert status in {200, 400}, (status, body, data)


def test_the_client_helpers_list_folders_and_ping(phone: EasClient) -> None:
    folders = phone.folders()
    assert folders["2"] and phone.folder_key != "0"
    inbox = phone.folder_id("2")
    # a Ping with a heartbeat below the server's minimum is Status 5 with the bound
    status, root = phone.ping([(inbox, "Email")], heartbeat=1)
    assert status == 200 and root is not None and root.value("Status") == "5"
    assert root.value("HeartbeatInterval") == "60"


def test_operations_per_request_are_bounded(eas_server: RunningServer,
                                            client_for: Callable[..., EasClient]) -> None:
    """Security review, finding 2: one small ItemOperations could fetch one attachment
    thousands of times into one answer; every command's operations are bounded."""
    client = client_for("bounded@example.test", device="Bound1")
    over = eas_server.cfg.web.eas.max_operations + 1
    io = "ItemOperations"
    fetch = E(io, "Fetch", E(io, "Store", text="Mailbox"),
              E("AirSyncBase", "FileReference", text="1:1:0"))
    body = E(io, "ItemOperations", *[fetch] * over)
    _, _, root = client.send("ItemOperations", body)
    assert root is not None and root.value("Status") == "2"
    ns = "Settings"
    _, _, root = client.send("Settings", E(ns, "Settings", *[
        E(ns, "DeviceInformation", E(ns, "Set", E(ns, "Model", text="x")))] * over))
    assert root is not None and root.value("Status") == "2"


def test_well_formed_nonsense_to_every_command_is_never_a_server_error(
        phone: EasClient) -> None:
    """Every command, given WBXML that decodes but means nothing (its root empty, another
    command's root, its root full of elements from the wrong places): the command's own
    status, never HTTP 500 and never Status 110 (a server error is for the server's faults)."""
    from postroom.protocols.eas.codepages import PAGES
    from postroom.web.eas.common import MODULES, ROOTS
    rng = random.Random(2025)
    for command, (ns, root_name) in ROOTS.items():
        tags = list(PAGES[next(n for n, (name, _) in PAGES.items() if name == ns)][1].values())
        junk = E(ns, root_name, *[
            E(ns, rng.choice(tags), E(ns, rng.choice(tags), text=rng.choice(["", "0", "x" * 40,
                                                                             "1:1", "-1"])))
            for _ in range(6)])
        for body in (E(ns, root_name), E("Ping", "Ping"), junk):
            status, _, data = phone.post(command, wbxml.encode(body), timeout=20)
            assert status == 200, (command, body, status, data)
            if data[:1] == b"\x03":
                answer = wbxml.decode(data)
                codes = {e.text for e in answer.iter() if e.name == "Status"}
                assert "110" not in codes, (command, body, data)
    assert set(MODULES) >= set(ROOTS)
