"""Issue 24 acceptance (with the scheduling part): alice invites bob from webmail; the
invitation lands in bob's calendar; bob accepts in webmail; alice's copy then shows bob's
PARTSTAT=ACCEPTED (RFC 6638 implicit scheduling: REQUEST to bob, REPLY back to alice)."""

from __future__ import annotations

import time
from datetime import date, timedelta

from tests.support.axe import serious
from tests.support.browser import submit
from tests.support.dav import Dav

ALICE = "alice@wminv.test"
BOB = "bob@wminv.test"


def _wait(check: object, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if check():  # type: ignore[operator]
            return
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_invitation_accepted_in_webmail_updates_the_organiser(dav_browser: Dav) -> None:
    dav = dav_browser
    dav.account(ALICE)
    dav.account(BOB)
    day = date.today() + timedelta(days=3)
    context, page = dav.browser(ALICE)
    try:
        page.goto(f"/webmail/calendar/new?date={day.isoformat()}")
        page.get_by_label("Title").fill("Budget review")
        page.locator("#f-start_time").fill("14:00")
        page.locator("#f-end_time").fill("15:00")
        page.get_by_label("Invite (one address a line)").fill(BOB)
        submit(page, "Save event")
        assert "Event saved." in page.locator(".flash").inner_text()
    finally:
        context.close()

    context, page = dav.browser(BOB)
    try:
        def arrived() -> bool:
            page.goto(f"/webmail/calendar?view=day&date={day.isoformat()}")
            return page.locator(".cal-event", has_text="Budget review").count() == 1
        _wait(arrived)
        page.locator(".cal-event", has_text="Budget review").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", name="Your answer").is_visible()
        assert page.get_by_role("button", name="Save event").count() == 0
        assert serious(page) == []
        submit(page, "Accept")
        assert "You accepted the invitation." in page.locator(".flash").inner_text()
    finally:
        context.close()

    client = dav.caldav(ALICE)
    calendars = client.principal().calendars()

    def accepted() -> bool:
        for cal in calendars:
            for ev in cal.events():
                text = ev.data.replace("\r\n ", "")
                if "Budget review" in text:
                    return any("PARTSTAT=ACCEPTED" in line and BOB in line
                               for line in text.splitlines() if line.startswith("ATTENDEE"))
        return False
    _wait(accepted)
