"""Webmail calendar in the browser (Debian's Chromium, Playwright): keyboard (arrows, ``t``,
``n``, view keys), the calendar toggles applying at once, phone width without horizontal
scrolling, and axe: no serious or critical violation on every calendar page (each view, the
new-event form, an event, a read-only invitation view)."""

from __future__ import annotations

from datetime import date, timedelta

from tests.support.axe import serious
from tests.support.browser import submit
from tests.support.webmail import Webmail

ALICE = "alice@calbrowser.test"
DAY = date.today() + timedelta(days=1)


def _make_event(page: object, title: str) -> None:
    p: object = page
    p.goto(f"/webmail/calendar/new?date={DAY.isoformat()}")  # type: ignore[attr-defined]
    p.get_by_label("Title").fill(title)  # type: ignore[attr-defined]
    p.get_by_label("All day").check()  # type: ignore[attr-defined]
    submit(p, "Save event")
    assert "Event saved." in p.locator(".flash").inner_text()  # type: ignore[attr-defined]


def test_keyboard_toggles_and_axe(mail_browser: Webmail) -> None:
    mail = mail_browser
    mail.account(ALICE)
    context, page = mail.browser(ALICE)
    try:
        _make_event(page, "Holiday")
        page.goto(f"/webmail/calendar?view=week&date={DAY.isoformat()}")
        assert page.locator(".cal-event", has_text="Holiday").count() == 1
        for view in ("day", "week", "month", "agenda"):
            page.goto(f"/webmail/calendar?view={view}&date={DAY.isoformat()}")
            assert serious(page) == [], view
        page.goto(f"/webmail/calendar?view=day&date={DAY.isoformat()}")
        page.keyboard.press("ArrowRight")
        page.wait_for_url(f"**date={(DAY + timedelta(days=1)).isoformat()}**")
        page.keyboard.press("ArrowLeft")
        page.wait_for_url(f"**date={DAY.isoformat()}**")
        page.keyboard.press("m")
        page.wait_for_url("**view=month**")
        page.keyboard.press("t")
        page.wait_for_url(f"**date={date.today().isoformat()}**")
        # a toggle applies at once (calendar.js submits the form)
        page.goto(f"/webmail/calendar?view=week&date={DAY.isoformat()}")
        page.locator("#cal-toggles input[type=checkbox]").first.uncheck()
        page.wait_for_url("**toggles=1**")
        assert page.locator(".cal-event", has_text="Holiday").count() == 0
        mail.account("bob@calbrowser.test")
        page.keyboard.press("n")
        page.wait_for_url("**/webmail/calendar/new**")
        # the invite finder: address completion adds a pick to the list
        page.get_by_label("Find someone to invite").fill("bob@calb")
        page.get_by_role("option", name="bob@calbrowser.test").wait_for()
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        assert page.get_by_label("Invite (one address a line)").input_value() == \
            "bob@calbrowser.test"
        assert serious(page) == []
        page.get_by_label("Title").fill("Backwards")
        page.locator("#f-start_time").fill("10:00")
        page.locator("#f-end_time").fill("09:00")
        submit(page, "Save event")
        assert page.get_by_role("alert").is_visible()
        assert serious(page) == []
        # a recurring event opened from one occurrence: its own small form too
        page.goto(f"/webmail/calendar/new?date={DAY.isoformat()}")
        page.get_by_label("Title").fill("Run")
        page.get_by_label("Repeats").select_option("daily")
        submit(page, "Save event")
        page.goto(f"/webmail/calendar?view=agenda&date={DAY.isoformat()}")
        page.locator(".cal-event", has_text="Run").nth(1).click()
        page.wait_for_load_state()
        assert page.get_by_label("Title of this occurrence").input_value() == "Run"
        assert serious(page) == []
        page.goto(f"/webmail/calendar?view=day&date={DAY.isoformat()}")
        page.locator(".cal-event", has_text="Holiday").click()
        page.wait_for_load_state()
        assert page.get_by_label("Title").input_value() == "Holiday"
        assert serious(page) == []
    finally:
        context.close()


def test_phone_width(mail_browser: Webmail) -> None:
    mail = mail_browser
    mail.account(ALICE)
    context, page = mail.browser(ALICE, viewport={"width": 375, "height": 740})
    try:
        for view in ("week", "month"):
            page.goto(f"/webmail/calendar?view={view}&date={DAY.isoformat()}")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 380, (view, width)
            assert page.get_by_role("link", name="Next").is_visible()
        for path in ("/webmail/calendar/new", "/webmail/contacts", "/webmail/contacts/new"):
            page.goto(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 380, (path, width)
    finally:
        context.close()


def test_live_update_when_a_caldav_client_adds_an_event(mail_browser: Webmail) -> None:
    from tests.support.dav import Dav

    mail = mail_browser
    mail.account(ALICE)
    context, page = mail.browser(ALICE)
    try:
        page.goto(f"/webmail/calendar?view=week&date={DAY.isoformat()}")
        fid = page.locator("#cal-toggles input[type=checkbox]").first.get_attribute("value")
        stamp = DAY.strftime("%Y%m%d")
        ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\nBEGIN:VEVENT\r\n"
               "UID:live-1\r\nDTSTAMP:20260101T000000Z\r\n"
               f"DTSTART:{stamp}T120000Z\r\nDTEND:{stamp}T130000Z\r\nSUMMARY:From my phone\r\n"
               "END:VEVENT\r\nEND:VCALENDAR\r\n")
        page.wait_for_timeout(500)  # the stream is open
        status, _, body = Dav(mail.server).request(
            ALICE, "PUT", f"/dav/calendars/{ALICE}/{fid}/live-1.ics", ics,
            {"Content-Type": "text/calendar"})
        assert status == 201, body
        page.locator(".cal-event", has_text="From my phone").wait_for(timeout=15000)
    finally:
        context.close()
