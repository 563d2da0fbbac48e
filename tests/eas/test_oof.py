"""ActiveSync Settings Oof (MS-ASCMD §2.2.3.122) as Sieve vacation, with the raw 14.1 client:
Get answers from the user's vacation (OofState 0/1/2, StartTime/EndTime, one OofMessage per
audience in the BodyType asked); Set turns it on, off or scheduled through the rules model,
the reply is sent by delivery to a local sender, and webmail's filters page shows the same
setting; refusals: missing or conflicting times, another active script (Status 7)."""

from __future__ import annotations

import itertools
import time

from postroom.core.actor import Actor
from postroom.protocols.eas.element import E, Element
from postroom.services.sieve.rules import SCRIPT, parse_generated
from tests.support.eas import Eas, EasClient
from tests.support.server import RunningServer

NS = "Settings"
_names = itertools.count(1)


def oof(client: EasClient, *children: Element) -> Element:
    root = client.send("Settings", E(NS, "Settings", E(NS, "Oof", *children)))[2]
    assert root is not None and root.value("Status") == "1", root
    found = root.find("Oof")
    assert found is not None
    return found


def get(client: EasClient, body_type: str = "Text") -> Element:
    answer = oof(client, E(NS, "Get", E(NS, "BodyType", text=body_type)))
    assert answer.value("Status") == "1"
    got = answer.find("Get")
    assert got is not None
    return got


def set_(client: EasClient, *children: Element) -> str:
    return oof(client, E(NS, "Set", *children)).value("Status") or ""


def message(audience: str, text: str, enabled: int = 1, body_type: str = "Text") -> Element:
    return E(NS, "OofMessage", E(NS, audience), E(NS, "Enabled", text=enabled),
             E(NS, "ReplyMessage", text=text), E(NS, "BodyType", text=body_type))


def replies(got: Element) -> list[tuple[str, str, str]]:
    out = []
    for m in got.findall("OofMessage"):
        audience = next(c.name for c in m.children if c.name.startswith("AppliesTo"))
        out.append((audience, m.value("Enabled") or "", m.value("ReplyMessage") or ""))
    return out


def script_of(srv: RunningServer, address: str) -> tuple[bool, str]:
    scripts = srv.services.sieve_scripts
    op = Actor.operator().principal

    async def read() -> tuple[bool, str]:
        infos = {i.name: i.active for i in await scripts.list(op, address)}
        return infos[SCRIPT], await scripts.get(op, SCRIPT, address)
    return srv.call(read())


def test_oof_get_set_and_the_reply_is_sent(eas_server: RunningServer, eas: Eas) -> None:
    me = eas.account(f"away{next(_names)}@example.test")
    friend = eas.account(f"friend{next(_names)}@example.test")
    client = EasClient(eas_server, me, device="Oof1", version="14.1")
    client.provision()
    got = get(client)
    assert got.value("OofState") == "0"
    assert [(a, e) for a, e, _ in replies(got)] == [
        ("AppliesToInternal", "0"), ("AppliesToExternalKnown", "0"),
        ("AppliesToExternalUnknown", "0")]
    status = set_(client, E(NS, "OofState", text=1),
                  message("AppliesToInternal", "I am away until Monday."),
                  message("AppliesToExternalKnown", "I am away.", enabled=1),
                  message("AppliesToExternalUnknown", "", enabled=0))
    assert status == "1"
    got = get(client)
    assert got.value("OofState") == "1" and got.find("StartTime") is None
    assert {r for _, _, r in replies(got)} == {"I am away until Monday."}
    active, text = script_of(eas_server, me)
    assert active and "vacation :days 7" in text and "currentdate" not in text
    # delivery answers a local sender (RFC 5230, RFC 3834 Auto-Submitted)
    eas.deliver(me, subject="Lunch on Friday?", sender=friend)
    assert _reply_arrives(eas, friend, "I am away until Monday.")


def _reply_arrives(eas: Eas, address: str, words: str) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        imap = eas.imap(address)
        try:
            imap.select("INBOX", readonly=True)
            _, found = imap.search(None, "HEADER", "Auto-Submitted", "auto-replied")
            for num in found[0].split():
                _, data = imap.fetch(num, "(BODY.PEEK[TEXT])")
                part = data[0]
                if isinstance(part, tuple) and words.encode() in part[1]:
                    return True
        finally:
            imap.logout()
        time.sleep(0.3)
    return False


def test_a_scheduled_oof_is_seen_in_webmail(eas_server: RunningServer, eas: Eas) -> None:
    me = eas.account(f"sched{next(_names)}@example.test")
    client = EasClient(eas_server, me, device="Oof2", version="14.1")
    client.provision()
    status = set_(client, E(NS, "OofState", text=2),
                  E(NS, "StartTime", text="2026-12-20T08:00:00.000Z"),
                  E(NS, "EndTime", text="2027-01-04T17:30:00.000Z"),
                  message("AppliesToInternal", "<p>Back on <b>January 4</b></p>",
                          body_type="HTML"))
    assert status == "1"
    got = get(client)
    assert got.value("OofState") == "2"
    assert got.value("StartTime") == "2026-12-20T08:00:00.000Z"
    assert got.value("EndTime") == "2027-01-04T17:30:00.000Z"
    assert {r for _, _, r in replies(got)} == {"Back on January 4"}  # asked as text
    html = get(client, "HTML")
    assert {r for _, _, r in replies(html)} == {"<p>Back on <b>January 4</b></p>"}
    _, text = script_of(eas_server, me)
    assert '"iso8601" "2026-12-20T08:00:00Z"' in text and ":mime" in text
    rules = parse_generated(text)
    assert rules is not None and rules.vacation.html
    # webmail's filters page shows the same vacation (the user's zone is UTC)
    web = eas.client(me)
    page = web.get("/webmail/settings/filters")
    assert page.status == 200
    assert 'id="f-start_date" name="start_date" type="date" value="2026-12-20"' in page.text
    assert 'value="08:00"' in page.text and 'value="2027-01-04"' in page.text
    assert 'value="17:30"' in page.text and "Scheduled" in page.text
    assert "Sent as HTML" in page.text
    # off from the phone: the text stays, webmail shows it off
    assert set_(client, E(NS, "OofState", text=0)) == "1"
    got = get(client)
    assert got.value("OofState") == "0"
    assert {(e, r) for _, e, r in replies(got)} == {("0", "Back on January 4")}
    page = web.get("/webmail/settings/filters")
    assert "Off: no automatic reply." in page.text
    # and on again from webmail: the phone sees it
    form = {"enabled": "on", "start_date": "", "start_time": "", "end_date": "",
            "end_time": "", "subject": "", "text": "Plain again", "days": "7",
            "addresses": ""}
    assert web.post("/webmail/settings/filters/vacation", form).status == 303
    got = get(client)
    assert got.value("OofState") == "1"
    assert {r for _, _, r in replies(got)} == {"Plain again"}


def test_refused_oof_sets(eas_server: RunningServer, eas: Eas) -> None:
    me = eas.account(f"refused{next(_names)}@example.test")
    client = EasClient(eas_server, me, device="Oof3", version="14.1")
    client.provision()
    text = message("AppliesToInternal", "away")
    assert set_(client, E(NS, "OofState", text=2), text,
                E(NS, "StartTime", text="2026-12-20T08:00:00.000Z")) == "5"
    assert set_(client, E(NS, "OofState", text=2), text,
                E(NS, "StartTime", text="2026-12-20T08:00:00.000Z"),
                E(NS, "EndTime", text="2026-12-19T08:00:00.000Z")) == "6"
    assert set_(client, E(NS, "OofState", text=2), text,
                E(NS, "StartTime", text="2026-02-30T08:00:00.000Z"),
                E(NS, "EndTime", text="2026-12-19T08:00:00.000Z")) == "5"
    assert set_(client, E(NS, "OofState", text=9), text) == "5"
    assert set_(client, E(NS, "OofState", text=1)) == "5"  # no reply written yet
    assert get(client).value("OofState") == "0"
    # another script is active (a ManageSieve client's): Get says 0, Set is refused
    scripts = eas_server.services.sieve_scripts
    op = Actor.operator().principal

    async def own_script() -> None:
        await scripts.put(op, "mine", "keep;\n", me)
        await scripts.activate(op, "mine", me)
    eas_server.call(own_script())
    assert set_(client, E(NS, "OofState", text=1), text) == "7"
    assert get(client).value("OofState") == "0"

    async def names() -> dict[str, bool]:
        return {i.name: i.active for i in await scripts.list(op, me)}
    assert eas_server.call(names()) == {"mine": True}
