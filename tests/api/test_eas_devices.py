"""/api/v1 ActiveSync devices (web/api/devices.py): list, wipe, block, allow, forget for an
administrator, a user's own list and wipe of a lost phone, and refusals that look like a
missing account (another domain's administrator, another user)."""

from __future__ import annotations

from tests.api.conftest import Clients, q


def _register(api: Clients, address: str, device: str) -> None:
    srv = api.srv
    eas = srv.services.eas
    assert eas is not None

    async def go() -> None:
        rec = await srv.services.store.directory.get_account(address)
        assert rec is not None
        who = await srv.services.directory.principal_for(rec)
        await eas.devices.admit(who, device, "iPhone", "FolderSync", "16.1", None, "tests")
    srv.call(go())


def test_administrators_manage_a_users_devices(api: Clients) -> None:
    _register(api, "ann@example.test", "AnnPhone1")
    base = f"/api/v1/users/{q('ann@example.test')}/devices"
    listed = api.boss.get(base)
    assert listed.status == 200, listed.body
    [row] = [d for d in listed.json if d["device"] == "AnnPhone1"]
    assert row["type"] == "iPhone" and row["policy"] == "none" and row["wipe"] == "none"
    wiped = api.boss.post(f"{base}/AnnPhone1/wipe", {"account_only": True})
    assert wiped.status == 200 and wiped.json["wipe"] == "account-requested", wiped.body
    blocked = api.root.post(f"{base}/AnnPhone1/block")
    assert blocked.status == 200 and blocked.json["blocked"] is True
    allowed = api.root.post(f"{base}/AnnPhone1/allow")
    assert allowed.status == 200 and allowed.json["blocked"] is False
    assert api.root.delete(f"{base}/AnnPhone1").status == 204
    assert not [d for d in api.root.get(base).json if d["device"] == "AnnPhone1"]
    assert api.root.post(f"{base}/AnnPhone1/wipe", {}).status == 404


def test_a_user_sees_and_wipes_only_their_own(api: Clients) -> None:
    _register(api, "ann@example.test", "AnnLost1")
    mine = api.ann.get("/api/v1/me/devices")
    assert mine.status == 200 and "AnnLost1" in {d["device"] for d in mine.json}
    wiped = api.ann.post("/api/v1/me/devices/AnnLost1/wipe", {})
    assert wiped.status == 200 and wiped.json["wipe"] == "requested"
    assert api.ann.post("/api/v1/me/devices/NotMine/wipe", {}).status == 404
    _register(api, "olga@other.test", "OlgaPhone1")
    other = f"/api/v1/users/{q('olga@other.test')}/devices"
    missing = f"/api/v1/users/{q('nobody@other.test')}/devices"
    # another domain's administrator and a plain user: the same 404 as a missing account
    assert api.boss.get(other).status == api.boss.get(missing).status == 404
    assert api.ann.get(other).status == 404
    assert api.root.get(other).status == 200


def test_the_owner_cannot_undo_an_administrators_block_or_wipe(api: Clients) -> None:
    """Security review, finding 4: the owner's own token allowed a blocked device again and
    forgot one with a pending wipe (which removed the wipe)."""
    _register(api, "ann@example.test", "AnnStolen1")
    base = f"/api/v1/users/{q('ann@example.test')}/devices/AnnStolen1"
    assert api.root.post(f"{base}/block").status == 200
    assert api.ann.post(f"{base}/allow").status == 404
    assert api.ann.delete(base).status == 404
    assert api.root.post(f"{base}/wipe", {}).json["wipe"] == "requested"
    assert api.ann.delete(base).status == 404
    assert api.ann.post("/api/v1/me/devices/AnnStolen1/wipe", {}).status == 200  # allowed
    [row] = [d for d in api.root.get(f"/api/v1/users/{q('ann@example.test')}/devices").json
             if d["device"] == "AnnStolen1"]
    assert row["blocked"] is True and row["wipe"] == "requested"
