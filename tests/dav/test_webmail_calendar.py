"""Issue 24 acceptance: a user creates a recurring event in webmail (Debian's Chromium via
Playwright) and a ``caldav`` client (PyPI), given only the server URL, sees it: the same
calendar object, with its RRULE, reminder and time zone, expanded to the right instances."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.support.browser import submit
from tests.support.dav import Dav

ALICE = "alice@wmcal.test"


def _next_monday() -> datetime:
    today = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=7 - today.weekday())


def test_recurring_event_from_webmail_is_seen_by_caldav(dav_browser: Dav) -> None:
    dav = dav_browser
    dav.account(ALICE)
    monday = _next_monday()
    context, page = dav.browser(ALICE)
    try:
        page.goto(f"/webmail/calendar?view=week&date={monday.date().isoformat()}")
        page.get_by_role("link", name="New event").click()
        page.wait_for_load_state()
        page.get_by_label("Title").fill("Team sync")
        page.get_by_label("Place").fill("Room 4")
        page.get_by_label("Starts on").fill(monday.date().isoformat())
        page.locator("#f-start_time").fill("10:00")
        page.get_by_label("Ends on").fill(monday.date().isoformat())
        page.locator("#f-end_time").fill("10:30")
        page.get_by_label("Repeats").select_option("weekly")
        page.get_by_label("Monday", exact=True).check()
        page.get_by_label("Wednesday", exact=True).check()
        page.get_by_label("After a number of times").check()
        page.get_by_label("Number of times", exact=True).fill("6")
        page.get_by_label("Reminder").select_option("15")
        submit(page, "Save event")
        assert "Event saved." in page.locator(".flash").inner_text()
        # the week view shows Monday's and Wednesday's instances
        chips = page.locator(".cal-event", has_text="Team sync")
        assert chips.count() == 2
    finally:
        context.close()

    client = dav.caldav(ALICE)
    principal: Any = client.principal()
    calendars = principal.calendars()
    events = [e for c in calendars for e in c.events()]
    found = [e for e in events if "Team sync" in e.data]
    assert len(found) == 1, [e.data for e in events]
    data = found[0].data
    assert "RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=MO,WE" in data.replace("\r\n ", "")
    assert "LOCATION:Room 4" in data
    assert "ACTION:DISPLAY" in data and "TRIGGER:-PT15M" in data
    # the server expands it for a time-range query as for any client's event
    owner = next(c for c in calendars if any("Team sync" in e.data for e in c.events()))
    hits = owner.search(start=monday, end=monday + timedelta(days=14), event=True,
                        expand=True)
    starts = sorted(str(h.icalendar_component.get("DTSTART").dt) for h in hits)
    assert len(starts) == 4, starts
