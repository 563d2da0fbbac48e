"""Tasks items (MS-ASTASK §2.2.2) ↔ VTODO objects (RFC 5545 §3.6.2).

Dates: StartDate/DueDate are the local dates and UtcStartDate/UtcDueDate the UTC ones
(MS-ASTASK §2.2.2.27, §2.2.2.8); a VTODO's DTSTART/DUE are stored as the phone's UTC moment,
or as a DATE when the stored one was a DATE. Complete ↔ STATUS:COMPLETED with COMPLETED
(DateCompleted); Importance 0 low, 1 normal, 2 high ↔ PRIORITY 9, 5 (or 0), 1; Sensitivity
↔ CLASS; ReminderSet/ReminderTime ↔ a VALARM with an absolute TRIGGER. Like events, a phone's
change is merged into the stored object.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import icalendar

from postroom.protocols.eas.element import Element
from postroom.web.eas.classes import SyncOptions
from postroom.web.eas.pim import body, dates, recur

NS = "Tasks"
Component = icalendar.cal.component.Component
_CLASS_OUT = {"PUBLIC": 0, "PRIVATE": 2, "CONFIDENTIAL": 3}
_CLASS_IN = {0: "PUBLIC", 1: "PRIVATE", 2: "PRIVATE", 3: "CONFIDENTIAL"}


class BadItem(ValueError):
    """The phone's ApplicationData cannot be a task (Sync Status 6)."""


def _todo(cal: icalendar.Calendar) -> Component | None:
    for comp in cal.walk("VTODO"):
        if comp.get("RECURRENCE-ID") is None:
            return comp
    return None


def completed(data: bytes) -> bool:
    """Whether the stored task is done (FilterType 8 sends incomplete tasks only)."""
    try:
        todo = _todo(icalendar.Calendar.from_ical(data))
    except ValueError:
        return False
    return todo is not None and (str(todo.get("STATUS", "")).upper() == "COMPLETED"
                                 or todo.get("COMPLETED") is not None)


def _dates(app: Element, local: str, utc: str, value: date | datetime) -> None:
    moment = dates.as_utc(value)
    app.add(NS, utc, dates.long_form(moment))
    naive = value if isinstance(value, datetime) and value.tzinfo is None else None
    shown = naive.replace(tzinfo=UTC) if naive is not None else moment
    app.add(NS, local, dates.long_form(shown))


def to_app(data: bytes, options: SyncOptions | None = None) -> Element:
    """The ApplicationData of a stored task (MS-ASTASK §2.2.2, in its order)."""
    cal = icalendar.Calendar.from_ical(data)
    todo = _todo(cal) or icalendar.Todo()
    app = Element("AirSync", "ApplicationData")
    app.append(body.element(str(todo.get("DESCRIPTION", "")), options))
    cats = todo.get("CATEGORIES")
    names: list[str] = []
    for prop in cats if isinstance(cats, list) else [cats] if cats is not None else []:
        names += [str(c) for c in getattr(prop, "cats", [prop])]
    if names:
        node = app.add(NS, "Categories")
        for n in names:
            node.add(NS, "Category", n)
    done = str(todo.get("STATUS", "")).upper() == "COMPLETED" or todo.get("COMPLETED") is not None
    app.add(NS, "Complete", 1 if done else 0)
    if done and todo.get("COMPLETED") is not None:
        app.add(NS, "DateCompleted", dates.long_form(dates.as_utc(todo.get("COMPLETED").dt)))
    if todo.get("DUE") is not None:
        _dates(app, "DueDate", "UtcDueDate", todo.get("DUE").dt)
    priority = int(todo.get("PRIORITY", 0) or 0)
    app.add(NS, "Importance", 2 if 1 <= priority <= 4 else 0 if priority >= 6 else 1)
    start = todo.get("DTSTART")
    rrule = todo.get("RRULE")
    if rrule is not None and start is not None:
        parts = recur.from_rrule(dict(rrule), start.dt, NS)
        if parts is not None:
            rec = app.add(NS, "Recurrence")
            rec.add(NS, "Start", dates.long_form(dates.as_utc(start.dt)))
            rec.children.extend(parts)
    reminder = _reminder(todo)
    app.add(NS, "ReminderSet", 1 if reminder else 0)
    if reminder is not None:
        app.add(NS, "ReminderTime", dates.long_form(reminder))
    klass = str(todo.get("CLASS", "PUBLIC")).upper()
    app.add(NS, "Sensitivity", _CLASS_OUT.get(klass, 0))
    if start is not None:
        _dates(app, "StartDate", "UtcStartDate", start.dt)
    app.add(NS, "Subject", str(todo.get("SUMMARY", "")))
    return app


def _reminder(todo: Component) -> datetime | None:
    for alarm in todo.walk("VALARM"):
        trigger = alarm.get("TRIGGER")
        if trigger is not None and isinstance(trigger.dt, datetime):
            return dates.as_utc(trigger.dt)
    return None


def _set(comp: Component, name: str, value: object) -> None:
    comp.pop(name, None)
    if value is not None:
        comp.add(name, value)


def _when(app: Element, utc: str, local: str, old: object) -> date | datetime | None:
    moment = dates.parse(app.value(utc)) or dates.parse(app.value(local))
    if moment is None:
        return None
    if old is not None and not isinstance(getattr(old, "dt", None), datetime):
        return moment.date()
    return moment


def merge(existing: bytes | None, app: Element) -> bytes:
    """The stored object after a phone's Add (``existing`` None) or Change."""
    if existing is not None:
        cal = icalendar.Calendar.from_ical(existing)
    else:
        cal = icalendar.Calendar()
        cal.add("PRODID", "-//Postroom//ActiveSync//EN")
        cal.add("VERSION", "2.0")
    todo = _todo(cal)
    if todo is None:
        todo = icalendar.Todo()
        todo.add("UID", str(uuid.uuid4()))
        cal.add_component(todo)
    if app.has("Subject"):
        _set(todo, "SUMMARY", app.value("Subject") or "")
    text = body.text_of(app)
    if text is not None:
        _set(todo, "DESCRIPTION", text or None)
    # a Change carries the whole item (MS-ASCMD §2.2.3.24): a due date or categories the
    # device leaves out were cleared on it (a start date only goes with a recurrence)
    replace = existing is not None
    for utc, local, prop in (("UtcStartDate", "StartDate", "DTSTART"),
                             ("UtcDueDate", "DueDate", "DUE")):
        if app.has(utc) or app.has(local):
            _set(todo, prop, _when(app, utc, local, todo.get(prop)))
        elif replace and prop == "DUE":
            todo.pop("DUE", None)
    complete = app.value("Complete")
    if complete == "1":
        _set(todo, "STATUS", "COMPLETED")
        done = dates.parse(app.value("DateCompleted")) or datetime.now(UTC).replace(
            microsecond=0)
        _set(todo, "COMPLETED", done)
        _set(todo, "PERCENT-COMPLETE", 100)
    elif complete == "0":
        if str(todo.get("STATUS", "")).upper() == "COMPLETED":
            _set(todo, "STATUS", "NEEDS-ACTION")
        todo.pop("COMPLETED", None)
        if todo.get("PERCENT-COMPLETE") is not None and int(todo.get("PERCENT-COMPLETE")) == 100:
            todo.pop("PERCENT-COMPLETE", None)
    importance = app.value("Importance")
    if importance in ("0", "1", "2"):
        _set(todo, "PRIORITY", {"0": 9, "1": 5, "2": 1}[importance])
    sens = app.value("Sensitivity")
    if sens and sens.isdigit():
        _set(todo, "CLASS", _CLASS_IN.get(int(sens), "PUBLIC"))
    cats = app.find("Categories", NS)
    if cats is not None or replace:
        todo.pop("CATEGORIES", None)
    if cats is not None:
        names = [c.text or "" for c in cats.findall("Category") if c.text]
        if names:
            todo.add("CATEGORIES", names)
    if app.value("ReminderSet") == "0":
        for alarm in [a for a in todo.subcomponents if a.name == "VALARM"
                      and isinstance(getattr(a.get("TRIGGER"), "dt", None), datetime)]:
            todo.subcomponents.remove(alarm)
    elif app.value("ReminderSet") == "1":
        when = dates.parse(app.value("ReminderTime"))
        if when is not None:
            _set_alarm(todo, when)
    rec = app.find("Recurrence", NS)
    if rec is not None:
        start = todo.get("DTSTART")
        first = dates.parse(rec.value("Start"))
        if start is None and first is not None:
            todo.add("DTSTART", first)
            start = todo.get("DTSTART")
        if start is None:
            raise BadItem("a recurring task needs a start")
        rule = recur.to_rrule(rec, start.dt)
        if rule is None:
            raise BadItem("a Recurrence without a known Type")
        _set(todo, "RRULE", rule)
    _set(todo, "DTSTAMP", datetime.now(UTC).replace(microsecond=0))
    return cal.to_ical()  # type: ignore[no-any-return]


def _set_alarm(todo: Component, when: datetime) -> None:
    for alarm in todo.walk("VALARM"):
        trigger = alarm.get("TRIGGER")
        if trigger is not None and isinstance(trigger.dt, datetime):
            alarm.pop("TRIGGER")
            alarm.add("TRIGGER", when, parameters={"VALUE": "DATE-TIME"})
            return
    alarm = icalendar.Alarm()
    alarm.add("ACTION", "DISPLAY")
    alarm.add("DESCRIPTION", "Reminder")
    alarm.add("TRIGGER", when, parameters={"VALUE": "DATE-TIME"})
    todo.add_component(alarm)
