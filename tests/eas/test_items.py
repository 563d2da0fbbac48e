"""GetAttachment (12.x, MS-ASCMD §2.2.1.7) on a real server: the FileReference the Email class
lists gives the attachment's bytes with their content type; a reference naming nothing (a bad
form, a missing part, another user's folder) is a 404, never a 500."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from tests.support.dav import Dav
from tests.support.eas import EasClient
from tests.support.server import RunningServer


@pytest.fixture(scope="module")
def eas_extra() -> list[str]:
    """This module's limits for the shared ActiveSync server (tests/eas/conftest.py)."""
    return []


def _put(srv: RunningServer, address: str) -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.net"
    msg["To"] = address
    msg["Subject"] = "with a file"
    msg.set_content("See the file.")
    msg.add_attachment(b"%PDF-1.4 not really", maintype="application", subtype="pdf",
                       filename="doc.pdf")

    async def go() -> None:
        rec = await srv.services.store.directory.get_account(address)
        assert rec is not None
        who = await srv.services.directory.principal_for(rec)
        await srv.services.messages.append(who, "INBOX", [(msg.as_bytes(), (), None)])
    srv.call(go())


def test_get_attachment_by_file_reference(srv: RunningServer) -> None:
    dav = Dav(srv)
    me = dav.account("items1@example.test")
    other = dav.account("items2@example.test")
    _put(srv, me)
    client = EasClient(srv, me, device="Att1", version="14.1")
    client.provision()
    inbox = client.folder_id("2")
    _, root = client.sync(inbox, "0")
    assert root is not None
    collection = root.path("Collections", "Collection")
    assert collection is not None
    key = collection.value("SyncKey") or ""
    _, root = client.sync(inbox, key)
    assert root is not None
    refs = [el.text for el in root.iter() if el.name == "FileReference"]
    assert len(refs) == 1 and refs[0]
    status, headers, data = client.post("GetAttachment", b"",
                                        params={"AttachmentName": str(refs[0])})
    assert status == 200
    assert data == b"%PDF-1.4 not really"
    assert headers["content-type"].startswith("application/pdf")
    box = str(refs[0]).split(":")[0]
    for bad in ("nonsense", f"{box}:999:0", f"{box}:1:7", "1:2:3:4", ""):
        status, _, _ = client.post("GetAttachment", b"", params={"AttachmentName": bad})
        assert status == 404, bad
    # another user's folder is not found either (indistinguishable from a missing one)
    stranger = EasClient(srv, other, device="Att2", version="14.1")
    stranger.provision()
    status, _, _ = stranger.post("GetAttachment", b"", params={"AttachmentName": str(refs[0])})
    assert status == 404
