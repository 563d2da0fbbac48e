"""WebAdmin's ActiveSync devices page (web/pages/dir_devices.py) over real HTTPS: the list
shows what the device told, each action posts with its CSRF token and does what
``postroom device`` does; another domain's administrator and a plain user find no such
account; an unknown action or device is 404, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.core.actor import Actor
from tests.support.server import RunningServer, server_config
from tests.support.webpages import PageClient, logged_in

WEB = ["web.admin.port=0", "web.admin.enabled=true", "web.totp_admins=optional"]
OP = Actor.operator()
PASSWORD = "pw-123456789"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(server_config(Path(tmp_path_factory.mktemp("devpages")), extra=WEB))
    admin = server.services.admin
    eas = server.services.eas
    assert eas is not None

    async def setup() -> None:
        await admin.domains.add(OP, "other.test")
        for address in ("boss@example.test", "dom@example.test", "ann@example.test",
                        "far@other.test"):
            rec = await server.services.directory.add_account(address, PASSWORD)
            await server.services.mailboxes.ensure_defaults(rec.id, rec.domain_id)
        await admin.roles.set(OP, "boss@example.test", None, True)
        await admin.roles.set(OP, "far@other.test", "other.test", True)
        ann = await server.services.directory.principal_for(
            await server.services.directory.require_account("ann@example.test"))
        admission = await eas.devices.admit(ann, "AnnPhone", "iPhone", "FolderSync", "16.1",
                                            None, "Apple-iPhone/2001")
        assert admission.device is not None
        await eas.devices.set_information(admission.device, {"Model": "iPhone 17",
                                                             "OS": "iOS 26"})
    server.call(setup())
    try:
        yield server
    finally:
        server.stop()


def _client(srv: RunningServer, address: str) -> PageClient:
    return logged_in(srv.port("webadmin"), address, PASSWORD)


def test_the_list_and_every_action(srv: RunningServer) -> None:
    boss = _client(srv, "boss@example.test")
    user = boss.get("/users/ann@example.test")
    assert user.status == 200 and "/users/ann@example.test/devices" in user.text
    page = boss.get("/users/ann@example.test/devices")
    assert page.status == 200
    assert "AnnPhone" in page.text and "iPhone 17" in page.text and "iOS 26" in page.text
    base = "/users/ann@example.test/devices/AnnPhone"
    for action, flash in (("block", "is blocked"), ("allow", "is allowed again"),
                          ("wipe-account", "remove this account"), ("wipe", "wiped")):
        done = boss.post(f"{base}/{action}", {}, page.csrf())
        assert done.status == 303 and flash in (done.flash() or ""), (action, done.flash())
    eas = srv.services.eas
    assert eas is not None
    listed = srv.call(eas.devices.list())
    assert [d.wipe.value for d in listed if d.device_id == "AnnPhone"] == ["requested"]
    assert boss.post(f"{base}/explode", {}, page.csrf()).status == 404
    assert boss.post("/users/ann@example.test/devices/NoSuch/block", {},
                     page.csrf()).status == 404
    assert boss.post(f"{base}/forget", {}, page.csrf()).status == 303
    assert "No device has synced" in boss.get("/users/ann@example.test/devices").text


def test_others_find_no_such_account(srv: RunningServer) -> None:
    far = _client(srv, "far@other.test")  # administrator of other.test only
    assert far.get("/users/ann@example.test/devices").status == \
        far.get("/users/nobody@example.test/devices").status == 404
    boss = _client(srv, "boss@example.test")
    boss.get("/users/ann@example.test/devices")
    # without the page's CSRF token an action is refused and nothing changes
    assert boss.post("/users/ann@example.test/devices/AnnPhone/block", {}, "bad-token"
                     ).status == 403
    eas = srv.services.eas
    assert eas is not None
    assert not any(d.blocked for d in srv.call(eas.devices.list()))
