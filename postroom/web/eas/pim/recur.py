"""MS-ASCAL §2.2.2.38 (and MS-ASTASK §2.2.2.18) Recurrence ↔ an RRULE (RFC 5545 §3.3.10).

EAS Type: 0 daily, 1 weekly, 2 monthly on a day, 3 monthly on the nth weekday, 5 yearly on a
date, 6 yearly on the nth weekday. DayOfWeek is a bitmask (Sunday 1 … Saturday 64),
WeekOfMonth 1-4 or 5 for the last, FirstDayOfWeek 0 Sunday … 6 Saturday. A rule EAS cannot
say (BYHOUR, several nth days, FREQ=HOURLY…) is not sent as a Recurrence; the stored RRULE
is kept as it is unless the phone sends one.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from postroom.protocols.eas.element import Element
from postroom.web.eas.pim import dates

DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")  # bit i of DayOfWeek is DAYS[i]
_TYPES_OUT = {0: "DAILY", 1: "WEEKLY", 2: "MONTHLY", 3: "MONTHLY", 5: "YEARLY", 6: "YEARLY"}


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def to_rrule(rec: Element, start: date | datetime) -> dict[str, Any] | None:
    """The RRULE (icalendar's vRecur mapping) of a Recurrence element; None when its Type is
    missing or unknown. ``start`` fills what a phone may leave out (the day of a monthly
    rule, the month of a yearly one)."""
    kind = _int(rec.value("Type"))
    if kind not in _TYPES_OUT:
        return None
    rule: dict[str, Any] = {"FREQ": _TYPES_OUT[kind]}
    interval = _int(rec.value("Interval"))
    if interval and interval > 1:
        rule["INTERVAL"] = interval
    count = _int(rec.value("Occurrences"))
    until = dates.parse(rec.value("Until"))
    if count:
        rule["COUNT"] = count
    elif until is not None:
        rule["UNTIL"] = until if isinstance(start, datetime) else until.date()
    mask = _int(rec.value("DayOfWeek")) or 0
    days = [DAYS[i] for i in range(7) if mask & (1 << i)]
    week = _int(rec.value("WeekOfMonth"))
    month = _int(rec.value("MonthOfYear"))
    day = _int(rec.value("DayOfMonth"))
    if kind in (0, 1) and days:
        rule["BYDAY"] = days
        if kind == 0:
            rule["FREQ"] = "WEEKLY"  # "every weekday" is a daily type with days in EAS
    elif kind == 2:
        rule["BYMONTHDAY"] = [day or start.day]
    elif kind in (3, 6):
        nth = -1 if week == 5 else (week or 1)
        rule["BYDAY"] = [f"{nth}{d}" for d in (days or [DAYS[(start.weekday() + 1) % 7]])]
    elif kind == 5:
        rule["BYMONTHDAY"] = [day or start.day]
    if kind in (5, 6):
        rule["BYMONTH"] = [month or start.month]
    first = _int(rec.value("FirstDayOfWeek"))
    if first is not None and 0 <= first <= 6:
        rule["WKST"] = DAYS[first]
    return rule


def _first(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _split_day(text: str) -> tuple[int | None, str]:
    text = str(text).upper()
    return (int(text[:-2]) if text[:-2] not in ("", "+") else None), text[-2:]


def from_rrule(rule: dict[str, Any], start: date | datetime, ns: str) -> list[Element] | None:
    """The Recurrence children (in code page ``ns``: Calendar or Tasks) for an RRULE, None
    when EAS cannot express it (then no Recurrence is sent: the device sees the first
    instance, and the stored rule is untouched)."""
    def get(key: str) -> Any:
        return rule.get(key) or rule.get(key.lower())
    freq = str(_first(get("FREQ")) or "").upper()
    if any(get(k) for k in ("BYHOUR", "BYMINUTE", "BYSECOND", "BYWEEKNO", "BYYEARDAY")):
        return None
    byday = [str(d) for d in (get("BYDAY") or [])]
    setpos = get("BYSETPOS") or []
    parsed = [_split_day(d) for d in byday]
    if any(d not in DAYS for _, d in parsed):
        return None
    mask = sum(1 << DAYS.index(d) for _, d in parsed)
    nth = next((n for n, _ in parsed if n is not None), None)
    if nth is None and setpos and len(setpos) == 1:
        nth = int(setpos[0])
    out: list[Element] = []
    month = _first(get("BYMONTH"))
    monthday = _first(get("BYMONTHDAY"))
    if freq == "DAILY" and not byday:
        out.append(Element(ns, "Type", text="0"))
    elif freq == "WEEKLY" or (freq == "DAILY" and byday and nth is None
                              and int(_first(get("INTERVAL")) or 1) == 1):
        # a daily rule narrowed to weekdays is a weekly one on those days
        out.append(Element(ns, "Type", text="1"))
        out.append(Element(ns, "DayOfWeek", text=str(mask or 1 << ((start.weekday() + 1) % 7))))
    elif freq == "MONTHLY" and byday and nth is not None:
        if nth not in (1, 2, 3, 4, -1):
            return None
        out += [Element(ns, "Type", text="3"), Element(ns, "DayOfWeek", text=str(mask)),
                Element(ns, "WeekOfMonth", text=str(5 if nth == -1 else nth))]
    elif freq == "MONTHLY" and not byday:
        if monthday is not None and int(monthday) < 1:
            return None
        out += [Element(ns, "Type", text="2"),
                Element(ns, "DayOfMonth", text=str(monthday or start.day))]
    elif freq == "YEARLY" and byday and nth is not None:
        if nth not in (1, 2, 3, 4, -1):
            return None
        out += [Element(ns, "Type", text="6"), Element(ns, "DayOfWeek", text=str(mask)),
                Element(ns, "WeekOfMonth", text=str(5 if nth == -1 else nth)),
                Element(ns, "MonthOfYear", text=str(month or start.month))]
    elif freq == "YEARLY" and not byday:
        out += [Element(ns, "Type", text="5"),
                Element(ns, "DayOfMonth", text=str(monthday or start.day)),
                Element(ns, "MonthOfYear", text=str(month or start.month))]
    else:
        return None
    interval = _first(get("INTERVAL"))
    if interval and int(interval) > 1:
        out.insert(1, Element(ns, "Interval", text=str(int(interval))))
    count = _first(get("COUNT"))
    until = _first(get("UNTIL"))
    if count:
        out.append(Element(ns, "Occurrences", text=str(int(count))))
    elif until is not None:
        out.append(Element(ns, "Until", text=dates.compact(dates.as_utc(until))))
    wkst = _first(get("WKST"))
    if wkst and str(wkst).upper() in DAYS and ns == "Calendar":
        out.append(Element(ns, "FirstDayOfWeek", text=str(DAYS.index(str(wkst).upper()))))
    return out
