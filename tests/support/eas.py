"""A raw ActiveSync client for tests: one command per call, over HTTPS with Basic auth.

pyactivesync (PyPI) drives the flows a phone runs; this client is for what it cannot do —
protocol 14.1, malformed input, statuses, the wipe dance — and encodes with the server's
own codec (checked separately against libwbxml2 and pyactivesync's reader).

    client = EasClient(srv, "alice@example.test", device="Phone1", version="14.1")
    client.provision()                       # both phases; the policy key is kept
    status, headers, root = client.send("FolderSync", E("FolderHierarchy", "FolderSync",
                                         E("FolderHierarchy", "SyncKey", text="0")))
"""

from __future__ import annotations

import base64
import http.client
import ssl
from typing import Any
from urllib.parse import urlencode

from postroom.core.principal import Principal
from postroom.protocols.eas import wbxml
from postroom.protocols.eas.element import E, Element
from postroom.services.eas import Eas as EasServices
from tests.support.dav import Dav
from tests.support.server import RunningServer
from tests.support.webmail import PASSWORD

PATH = "/Microsoft-Server-ActiveSync"
POLICY_TYPE = "MS-EAS-Provisioning-WBXML"


def _insecure() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Eas(Dav):
    """Webmail's and DAV's helpers (account(), deliver(), imap(), caldav()) for EAS tests,
    plus a raw client per account."""

    def eas_client(self, address: str, *, provision: bool = True, **kw: Any) -> EasClient:
        self.account(address)
        client = EasClient(self.server, address, **kw)
        if provision:
            client.provision()
        return client


class EasClient:
    def __init__(self, srv: RunningServer, address: str, password: str = PASSWORD, *,
                 device: str = "TestPhone1", device_type: str = "TestPhone",
                 version: str = "14.1") -> None:
        self.port = srv.port("https")
        self.address = address
        self.password = password
        self.device = device
        self.device_type = device_type
        self.version = version
        self.policy_key: str | None = None
        self.folder_key = "0"  # the FolderSync key of the last folders()

    def post(self, command: str, body: bytes, *, params: dict[str, str] | None = None,
             headers: dict[str, str] | None = None, query: str | None = None,
             timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
        """One raw POST; (status, headers lower-cased, body)."""
        q = query if query is not None else urlencode(
            {"Cmd": command, "User": self.address, "DeviceId": self.device,
             "DeviceType": self.device_type, **(params or {})})
        auth = base64.b64encode(f"{self.address}:{self.password}".encode()).decode()
        h = {"Authorization": f"Basic {auth}", "MS-ASProtocolVersion": self.version,
             "Content-Type": "application/vnd.ms-sync.wbxml", "User-Agent": "postroom-tests"}
        if self.policy_key:
            h["X-MS-PolicyKey"] = self.policy_key
        h.update(headers or {})
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=_insecure(),
                                           timeout=timeout)
        try:
            conn.request("POST", f"{PATH}?{q}", body=body, headers=h)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def http(self, method: str, target: str, body: bytes = b"", *,
             headers: dict[str, str] | None = None, auth: bool = True,
             timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
        """Any request to any target (OPTIONS, GET, a hand-made query): for transport tests.
        ``auth=False`` sends no Authorization header."""
        h = {"User-Agent": "postroom-tests"}
        if auth:
            token = base64.b64encode(f"{self.address}:{self.password}".encode()).decode()
            h["Authorization"] = f"Basic {token}"
        h.update(headers or {})
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=_insecure(),
                                           timeout=timeout)
        try:
            conn.request(method, target, body=body, headers=h)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def options(self, *, auth: bool = True) -> tuple[int, dict[str, str]]:
        """MS-ASHTTP §2.2.4: the versions and commands the server offers."""
        status, headers, _ = self.http("OPTIONS", PATH, auth=auth)
        return status, headers

    def send(self, command: str, root: Element | None, **kw: Any,
             ) -> tuple[int, dict[str, str], Element | None]:
        status, headers, data = self.post(command, wbxml.encode(root) if root else b"", **kw)
        tree = wbxml.decode(data) if data[:1] == b"\x03" else None
        return status, headers, tree

    def provision(self) -> str:
        """Both phases of MS-ASPROV; keeps and returns the final policy key."""
        ns = "Provision"
        first = E(ns, "Provision", E(ns, "Policies", E(ns, "Policy", E(
            ns, "PolicyType", text=POLICY_TYPE))))
        _, _, root = self.send("Provision", first)
        assert root is not None and root.value("Status") == "1", root
        policy = root.path("Policies", "Policy")
        assert policy is not None
        temporary = policy.value("PolicyKey")
        assert temporary
        ack = E(ns, "Provision", E(ns, "Policies", E(ns, "Policy", E(
            ns, "PolicyType", text=POLICY_TYPE), E(ns, "PolicyKey", text=temporary),
            E(ns, "Status", text=1))))
        self.policy_key = temporary
        _, _, root = self.send("Provision", ack)
        assert root is not None
        policy = root.path("Policies", "Policy")
        assert policy is not None and policy.value("Status") == "1", root
        final = policy.value("PolicyKey")
        assert final
        self.policy_key = final
        return final

    def folder_sync(self, key: str = "0") -> Element:
        ns = "FolderHierarchy"
        status, _, root = self.send("FolderSync", E(ns, "FolderSync",
                                                    E(ns, "SyncKey", text=key)))
        assert status == 200 and root is not None, status
        return root

    def folders(self) -> dict[str, list[tuple[str, str]]]:
        """A FolderSync from key 0: {Type: [(ServerId, DisplayName), …]}, and the key kept
        in ``self.folder_key`` (MS-ASCMD §2.2.3.186.3 folder types: "2" Inbox, "8"
        Calendar, "9" Contacts, "7" Tasks, "12" a user mail folder…)."""
        root = self.folder_sync("0")
        assert root.value("Status") == "1", root
        self.folder_key = root.value("SyncKey") or "0"
        out: dict[str, list[tuple[str, str]]] = {}
        changes = root.find("Changes")
        for add in changes.findall("Add") if changes is not None else []:
            out.setdefault(add.value("Type") or "", []).append(
                (add.value("ServerId") or "", add.value("DisplayName") or ""))
        return out

    def folder_id(self, kind: str = "2") -> str:
        """The ServerId of the first folder of a type ("2" Inbox by default)."""
        return self.folders()[kind][0][0]

    def sync(self, collection_id: str, key: str = "0", *, options: list[Element] | None = None,
             commands: list[Element] | None = None, window: int | None = None,
             get_changes: bool | None = None, extra: list[Element] | None = None,
             **kw: Any) -> tuple[int, Element | None]:
        """One Sync of one collection (MS-ASCMD §2.2.1.21); (HTTP status, root or None for
        an empty answer). ``options``: children of AirSync:Options; ``commands``: Add/Change/
        Delete/Fetch elements; ``extra``: more children of Sync (Wait, HeartbeatInterval…)."""
        ns = "AirSync"
        collection = E(ns, "Collection", E(ns, "SyncKey", text=key),
                       E(ns, "CollectionId", text=collection_id))
        if get_changes is not None:
            collection.children.append(E(ns, "GetChanges", text=int(get_changes)))
        if window is not None:
            collection.children.append(E(ns, "WindowSize", text=window))
        if options:
            collection.children.append(E(ns, "Options", *options))
        if commands:
            collection.children.append(E(ns, "Commands", *commands))
        root = E(ns, "Sync", E(ns, "Collections", collection), *(extra or []))
        status, _, tree = self.send("Sync", root, **kw)
        return status, tree

    def ping(self, folders: list[tuple[str, str]] | None, heartbeat: int | None = None,
             **kw: Any) -> tuple[int, Element | None]:
        """A Ping (MS-ASCMD §2.2.1.13) watching (Id, Class) folders; an empty Ping (no body)
        when ``folders`` is None and no heartbeat is given."""
        ns = "Ping"
        if folders is None and heartbeat is None:
            status, _, tree = self.send("Ping", None, **kw)
            return status, tree
        root = E(ns, "Ping")
        if heartbeat is not None:
            root.children.append(E(ns, "HeartbeatInterval", text=heartbeat))
        if folders is not None:
            root.children.append(E(ns, "Folders", *(
                E(ns, "Folder", E(ns, "Id", text=fid), E(ns, "Class", text=cls))
                for fid, cls in folders)))
        status, _, tree = self.send("Ping", root, **kw)
        return status, tree


def eas_of(srv: RunningServer) -> EasServices:
    """The server's ActiveSync services (the command tests call them as the app does)."""
    eas = srv.services.eas
    assert eas is not None
    return eas


def principal(srv: RunningServer, address: str) -> Principal:
    """The principal of an account, as a login would make it."""
    async def find() -> Principal:
        rec = await srv.services.store.directory.get_account(address)
        assert rec is not None
        return await srv.services.directory.principal_for(rec)
    return srv.call(find())
