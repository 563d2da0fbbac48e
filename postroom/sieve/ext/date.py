"""The "date" and "index" extensions (RFC 5260): the ``date`` and ``currentdate`` tests,
and ``:index``/``:last`` on header, address and date.

``date`` (§4) reads one header field (the first, or the one ``:index`` names), takes the
RFC 5322 date-time that makes up the field or follows its last ";" (Received), shifts it to
``:zone``, keeps its own zone (``:originalzone``) or uses the local zone, and matches one
date part against the keys. A field that is missing or holds no valid date makes the test
false (its ``:count`` is 0). ``currentdate`` (§5) does the same with the time of delivery
(``Environment.now``), read once per run so that every test of a run sees the same instant.
The local zone is the zone of ``Environment.now`` (the delivery service gives it in the
server's zone).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date as Date
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_tz

from postroom.sieve import bind
from postroom.sieve.bind import BindContext, Call
from postroom.sieve.errors import SieveRuntimeError
from postroom.sieve.ext.core import pick_field
from postroom.sieve.ext.variables import walk
from postroom.sieve.match import match_values
from postroom.sieve.registry import ArgKind, Extension, Signature, TagSpec, TestDef, register
from postroom.sieve.runtime import Runtime

S, SL, N = ArgKind.STRING, ArgKind.STRINGS, ArgKind.NUMBER

_ZONE = re.compile(r"([+-])([0-9]{2})([0-9]{2})")
_UNKNOWN_ZONE = re.compile(r"-0000\s*(?:\([^()]*\)\s*)?$")
_MJD_EPOCH = Date(1858, 11, 17).toordinal()  # §4.2 "julian": days since 1858-11-17
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")


def parse_zone(text: str) -> timezone | None:
    """``time-zone = ("+" / "-") 4DIGIT`` (§4.1) as a timezone; None if it is not one."""
    found = _ZONE.fullmatch(text)
    if found is None:
        return None
    hours, minutes = int(found.group(2)), int(found.group(3))
    if hours > 23 or minutes > 59:
        return None
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if found.group(1) == "-" else offset)


def format_zone(offset: timedelta | None) -> str:
    """"+hhmm"/"-hhmm"; zero is "+0000" (§4.2); an unknown zone (RFC 5322 "-0000") stays
    "-0000"."""
    if offset is None:
        return "-0000"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"


def parse_date(value: str) -> tuple[datetime, bool] | None:
    """The date-time of a field (all of it, or what follows its last ";": §4), and whether
    its zone was known; None if there is no valid one (January 32nd, February 29th of a
    common year)."""
    candidates = [value]
    if ";" in value:
        candidates.insert(0, value.rsplit(";", 1)[1])
    for text in candidates:
        parsed = parsedate_tz(text.strip())
        if parsed is None:
            continue
        year, month, day, hour, minute, second = parsed[:6]
        offset = parsed[9]
        try:
            zone = timezone(timedelta(seconds=offset or 0))
            when = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=zone)
        except (ValueError, OverflowError):
            continue
        # RFC 5322 §3.3: "-0000" says the zone is unknown (parsedate_tz reads it as 0)
        return when, not _UNKNOWN_ZONE.search(text)
    return None


def _std11(when: datetime, zone: str) -> str:
    return (f"{_DAYS[when.weekday()]}, {when.day:02d} {_MONTHS[when.month - 1]} "
            f"{when.year:04d} {when.hour:02d}:{when.minute:02d}:{when.second:02d} {zone}")


def _iso8601(when: datetime) -> str:
    # RFC 3339 §5.6 with "T" and "Z" in upper case and a zero offset written "Z" (§4.2)
    offset = when.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        zone = "Z"
    else:
        text = format_zone(offset)
        zone = f"{text[:3]}:{text[3:]}"
    return when.strftime("%Y-%m-%dT%H:%M:%S") + zone


PartFn = Callable[[datetime, str], str]
PARTS: dict[str, PartFn] = {
    "year": lambda d, z: f"{d.year:04d}",
    "month": lambda d, z: f"{d.month:02d}",
    "day": lambda d, z: f"{d.day:02d}",
    "date": lambda d, z: f"{d.year:04d}-{d.month:02d}-{d.day:02d}",
    "julian": lambda d, z: str(d.date().toordinal() - _MJD_EPOCH),
    "hour": lambda d, z: f"{d.hour:02d}",
    "minute": lambda d, z: f"{d.minute:02d}",
    "second": lambda d, z: f"{d.second:02d}",
    "time": lambda d, z: f"{d.hour:02d}:{d.minute:02d}:{d.second:02d}",
    "iso8601": lambda d, z: _iso8601(d),
    "std11": _std11,
    "zone": lambda d, z: z,
    "weekday": lambda d, z: str((d.weekday() + 1) % 7),  # 0 is Sunday
}


def date_part(when: datetime, part: str, zone: str) -> str:
    return PARTS[part](when, zone)


def _shifted(rt: Runtime, call: Call, when: datetime, known: bool) -> tuple[datetime, str]:
    """``when`` in the zone the call asks for, and that zone as text."""
    if call.tags.get("originalzone"):
        return when, format_zone(when.utcoffset() if known else None)
    zone_text = call.tags.get("zone")
    if isinstance(zone_text, str):
        text = rt.expand(zone_text)
        zone = parse_zone(text)
        if zone is None:
            raise SieveRuntimeError(f"invalid :zone {text!r} (wants +hhmm or -hhmm)",
                                    call.pos.line, call.pos.column)
        return when.astimezone(zone), format_zone(zone.utcoffset(None))
    local = now(rt)
    shifted = when.astimezone(local.tzinfo)
    return shifted, format_zone(shifted.utcoffset())


def now(rt: Runtime) -> datetime:
    """The time of this delivery, the same for every test of the run (§5)."""
    cached = rt.state.get("date.now")
    if isinstance(cached, datetime):
        return cached
    current = rt.env.now()
    rt.state["date.now"] = current
    return current


def _part_name(rt: Runtime, call: Call, index: int) -> str:
    part = rt.expand(call.string(index)).lower()
    if part not in PARTS:
        raise SieveRuntimeError(f"unknown date part {part!r}", call.pos.line, call.pos.column)
    return part


async def _date(rt: Runtime, call: Call) -> bool:
    name = rt.expand(call.string(0))
    part = _part_name(rt, call, 1)
    fields = rt.message.header(name)
    if "index" not in call.tags:
        fields = fields[:1]  # §4: only the first field of that name (:index: §6)
    values: list[str] = []
    for field in pick_field(call, fields):
        parsed = parse_date(field)
        if parsed is not None:
            when, zone = _shifted(rt, call, *parsed)
            values.append(date_part(when, part, zone))
    return match_values(rt, call, values, call.strings(2))


async def _currentdate(rt: Runtime, call: Call) -> bool:
    part = _part_name(rt, call, 0)
    when, zone = _shifted(rt, call, now(rt), True)
    return match_values(rt, call, [date_part(when, part, zone)], call.strings(1))


def _check_part(call: Call, ctx: BindContext, index: int) -> None:
    part = call.string(index)
    if "${" in part and ctx.has("variables"):
        return
    if part.lower() not in PARTS:
        raise ctx.error(f"unknown date part {part!r} (one of {', '.join(PARTS)})", call.pos)


def _check_zone(call: Call, ctx: BindContext) -> None:
    if "zone" in call.tags and "originalzone" in call.tags:
        raise ctx.error("date: :zone and :originalzone exclude each other", call.pos)
    zone = call.tags.get("zone")
    if isinstance(zone, str) and not ("${" in zone and ctx.has("variables")) \
            and parse_zone(zone) is None:
        raise ctx.error(f"invalid :zone {zone!r} (wants +hhmm or -hhmm)", call.pos)


def _check_date(call: Call, ctx: BindContext) -> None:
    _check_zone(call, ctx)
    _check_part(call, ctx, 1)
    _check_index(call, ctx)


def _check_currentdate(call: Call, ctx: BindContext) -> None:
    _check_zone(call, ctx)
    _check_part(call, ctx, 0)


def _check_index(call: Call, ctx: BindContext) -> None:
    """§6: ":last" without ":index" is an error; fields count from 1."""
    if "last" in call.tags and "index" not in call.tags:
        raise ctx.error(f"{call.name}: :last needs :index", call.pos)
    index = call.tags.get("index")
    if isinstance(index, int) and not isinstance(index, bool) and index < 1:
        raise ctx.error(f"{call.name}: :index counts from 1", call.pos)


def _finish_index(calls: list[Call], ctx: BindContext) -> None:
    for call in walk(calls):
        if call.name in ("header", "address"):
            _check_index(call, ctx)


_ZONE_TAG = TagSpec("zone", S)

DATE = register(Extension(
    "date",
    tests=(
        TestDef("date", Signature(positional=(S, S, SL), match=True, comparator=True,
                                  tags=(_ZONE_TAG, TagSpec("originalzone"))),
                _date, _check_date),
        TestDef("currentdate", Signature(positional=(S, SL), match=True, comparator=True,
                                         tags=(_ZONE_TAG,)),
                _currentdate, _check_currentdate),
    ),
))

_INDEX_TAGS = (TagSpec("index", N, capability="index"), TagSpec("last", capability="index"))
INDEX = register(Extension(
    "index",
    extra_tags={"header": _INDEX_TAGS, "address": _INDEX_TAGS, "date": _INDEX_TAGS},
))

bind.FINISH["index"] = _finish_index
