"""ActiveSync dates (MS-ASDTYPE §2.3) and the Timezone blob (MS-ASCAL §2.2.2.42).

Calendar times travel in the compact UTC form ``yyyymmddThhmmssZ`` (MS-ASCAL §2.2.2.41
StartTime); contacts and tasks use ``yyyy-mm-ddThh:mm:ss.fffZ`` (MS-ASDTYPE §2.3). The
Timezone element is a base64 TIME_ZONE_INFORMATION structure of 172 octets: Bias (minutes,
UTC = local + bias), StandardName (32 UTF-16 units), StandardDate (SYSTEMTIME), StandardBias,
DaylightName, DaylightDate, DaylightBias. A SYSTEMTIME with wYear 0 is a yearly rule: month,
day of week, the week of the month in wDay (5 = last), hour and minute of the change.

The server keeps IANA zones (the stored TZID); a blob is built from the zone's rule of the
current year and a received blob is matched back to a zone with the same rule (cached), else
to a fixed offset.
"""

from __future__ import annotations

import base64
import functools
import re
import struct
import zoneinfo
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

BLOB_SIZE = 172
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z?$")
_LONG = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?)?Z?$")
# zones tried first when a blob is matched back (a phone in these is the common case)
_PREFERRED = ("UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Helsinki",
              "Europe/Moscow", "America/New_York", "America/Chicago", "America/Denver",
              "America/Phoenix", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Tokyo",
              "Asia/Shanghai", "Asia/Kolkata", "Asia/Dubai", "Australia/Sydney",
              "Pacific/Auckland", "Africa/Johannesburg")


def compact(moment: datetime) -> str:
    """MS-ASCAL StartTime form: ``20261204T120000Z`` (UTC)."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def long_form(moment: datetime) -> str:
    """MS-ASDTYPE §2.3 dateTime form: ``2026-12-04T12:00:00.000Z`` (UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse(text: str | None) -> datetime | None:
    """Either form, as an aware UTC datetime; None when absent or malformed (the caller
    answers the command's status for a required one)."""
    if not text:
        return None
    text = text.strip()
    m = _COMPACT.match(text) or _LONG.match(text)
    if m is None:
        return None
    parts = [int(g) if g else 0 for g in m.groups()]
    try:
        return datetime(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], tzinfo=UTC)
    except ValueError:
        return None


def as_utc(value: date | datetime, zone: tzinfo | None = None) -> datetime:
    """An iCalendar DATE or DATE-TIME as UTC: a date is midnight in ``zone`` (all-day
    events, MS-ASCAL §2.2.2.3: midnight in the event's time zone), a floating time is in
    ``zone``."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone or UTC)
    return value.astimezone(UTC)


# -- the Timezone blob --------------------------------------------------------------------------

def _systemtime(moment: datetime | None) -> bytes:
    """A yearly rule (wYear 0) for the transition at local time ``moment``."""
    if moment is None:
        return bytes(16)
    week = min((moment.day - 1) // 7 + 1, 5)
    if (moment + timedelta(days=7)).month != moment.month:
        week = 5  # the last such weekday of the month
    dow = (moment.weekday() + 1) % 7  # SYSTEMTIME: Sunday 0
    return struct.pack("<8H", 0, moment.month, dow, week, moment.hour, moment.minute, 0, 0)


def _name(text: str) -> bytes:
    raw = text[:31].encode("utf-16-le")
    return raw + bytes(64 - len(raw))


def _transitions(zone: tzinfo, year: int) -> list[tuple[datetime, int, int]]:
    """(local wall time of the change, offset before, offset after) in ``year``: scanned
    by day, then bisected to the minute inside the day it happens."""
    out: list[tuple[datetime, int, int]] = []
    start = datetime(year, 1, 1, tzinfo=UTC)
    prev = _utc_offset(zone, start)
    day = start
    for _ in range(366):
        nxt = day + timedelta(days=1)
        off = _utc_offset(zone, nxt)
        if off != prev:
            lo, hi = day, nxt  # the change is in (lo, hi]: bisect to the minute
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if _utc_offset(zone, mid) == prev:
                    lo = mid
                else:
                    hi = mid
            # the wall clock of the rule is the time before the change (e.g. 02:00 standard)
            wall = (hi + timedelta(minutes=prev)).replace(tzinfo=None, second=0,
                                                           microsecond=0)
            out.append((wall, prev, off))
            prev = off
        day = nxt
    return out


def _utc_offset(zone: tzinfo, moment: datetime) -> int:
    off = moment.astimezone(zone).utcoffset() or timedelta(0)
    return int(off.total_seconds() // 60)


@functools.lru_cache(maxsize=4096)
def _blob_for(key: str, year: int) -> bytes:
    zone = zone_for(key)
    if zone is None:
        return blob_for_offset(0)
    return blob_for_zone(zone, key, year)


def blob_for_zone(zone: tzinfo, key: str, year: int) -> bytes:
    """The blob of any tzinfo (an IANA zone, or one a stored VTIMEZONE defines under a name
    zoneinfo does not know, e.g. Outlook's "W. Europe Standard Time")."""
    changes = _transitions(zone, year)
    if len(changes) < 2:
        return blob_for_offset(_utc_offset(zone, datetime(year, 7, 1, tzinfo=UTC)), key)
    # standard is the smaller offset; daylight the larger
    std_change = next(c for c in changes if c[2] < c[1])
    dst_change = next(c for c in changes if c[2] > c[1])
    std, dst = std_change[2], dst_change[2]
    return (struct.pack("<i", -std) + _name(key) + _systemtime(std_change[0])
            + struct.pack("<i", 0) + _name(key) + _systemtime(dst_change[0])
            + struct.pack("<i", -(dst - std)))


def blob_for_offset(minutes: int, name: str = "") -> bytes:
    """A zone without daylight saving: only Bias is set."""
    return (struct.pack("<i", -minutes) + _name(name) + bytes(16) + struct.pack("<i", 0)
            + _name(name) + bytes(16) + struct.pack("<i", 0))


def zone_for(key: str) -> tzinfo | None:
    """An IANA zone by name (the stored TZID), None when unknown."""
    if key.upper() in ("UTC", "Z", "GMT"):
        return UTC
    try:
        return zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def timezone_blob(key: str | None, year: int | None = None,
                  zone: tzinfo | None = None) -> str:
    """The base64 Timezone element for a TZID; for a TZID zoneinfo does not know, the rules
    of ``zone`` (the stored VTIMEZONE's); UTC when neither."""
    year = year or datetime.now(UTC).year
    if key and zone is not None and zone_for(key) is None:
        return base64.b64encode(blob_for_zone(zone, key, year)).decode()
    return base64.b64encode(_blob_for(key or "UTC", year)).decode()


def _rules(blob: bytes) -> tuple[int, bytes, int, bytes, int]:
    bias, = struct.unpack_from("<i", blob, 0)
    std_date = blob[68:84]
    std_bias, = struct.unpack_from("<i", blob, 84)
    dst_date = blob[152:168]
    dst_bias, = struct.unpack_from("<i", blob, 168)
    return bias, std_date, std_bias, dst_date, dst_bias


def decode_blob(text: str | None) -> bytes | None:
    """The 172 octets of a Timezone element, None when absent or malformed."""
    if not text:
        return None
    try:
        raw = base64.b64decode(text.strip(), validate=False)
    except ValueError:
        return None
    return raw if len(raw) == BLOB_SIZE else None


@functools.lru_cache(maxsize=256)
def zone_of_blob(blob: bytes, year: int) -> tuple[str | None, tzinfo]:
    """The IANA zone whose rule of ``year`` is the blob's (name, zone); else (None, a fixed
    offset of the blob's bias). Compared on bias and transition rules, not names: phones
    send Windows names, localised names or none."""
    want = _rules(blob)
    if not any(want[3]) and not any(want[1]):
        want = (want[0], bytes(16), 0, bytes(16), 0)
        if want[0] == 0:
            return "UTC", UTC
    candidates = list(_PREFERRED) + sorted(zoneinfo.available_timezones())
    for key in candidates:
        if _matches(want, key, year):
            return key, zone_for(key) or UTC
    return None, timezone(timedelta(minutes=-want[0]))


def _matches(want: tuple[int, bytes, int, bytes, int], key: str, year: int) -> bool:
    got = _rules(_blob_for(key, year))
    if got[0] != want[0] or got[4] != want[4]:
        return False
    # the hour of a rule is compared too; wSecond/wMilliseconds are ignored
    return got[1][:12] == want[1][:12] and got[3][:12] == want[3][:12]
