"""CalDAV and CardDAV query filters as values: web/dav/ parses the XML into these,
``pim.query`` evaluates them. Element names follow RFC 4791 §9.7 and RFC 6352 §10.5."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TimeRange:
    """RFC 4791 §9.9: either end may be open (None); epoch seconds UTC."""

    start: int | None
    end: int | None


@dataclass(frozen=True, slots=True)
class TextMatch:
    """RFC 4791 §9.7.5 / RFC 6352 §10.5.4. ``collation``: "i;ascii-casemap" (default),
    "i;octet" or "i;unicode-casemap" (RFC 4790, RFC 5051); ``match_type`` (CardDAV only):
    equals, contains (default), starts-with, ends-with."""

    text: str
    collation: str = "i;ascii-casemap"
    negate: bool = False
    match_type: str = "contains"


@dataclass(frozen=True, slots=True)
class ParamFilter:
    name: str
    is_not_defined: bool = False
    text_match: TextMatch | None = None


@dataclass(frozen=True, slots=True)
class PropFilter:
    """RFC 4791 §9.7.2 / RFC 6352 §10.5.1. ``test`` (CardDAV): "anyof" (default) or "allof"
    over the text-matches and param-filters."""

    name: str
    is_not_defined: bool = False
    time_range: TimeRange | None = None
    text_matches: tuple[TextMatch, ...] = ()
    param_filters: tuple[ParamFilter, ...] = ()
    test: str = "anyof"


@dataclass(frozen=True, slots=True)
class CompFilter:
    """RFC 4791 §9.7.1. The top one is always VCALENDAR."""

    name: str
    is_not_defined: bool = False
    time_range: TimeRange | None = None
    prop_filters: tuple[PropFilter, ...] = ()
    comp_filters: tuple[CompFilter, ...] = ()


@dataclass(frozen=True, slots=True)
class CardFilter:
    """RFC 6352 §10.5: ``test`` "anyof" (default) or "allof" over the prop-filters; no
    prop-filter matches every card."""

    prop_filters: tuple[PropFilter, ...] = ()
    test: str = "anyof"


@dataclass(frozen=True, slots=True)
class CalendarDataRequest:
    """RFC 4791 §9.6: what of each object to return. ``expand``/``limit_recurrence``: a range
    (§9.6.5, §9.6.6); ``components``: None for everything, else the component and property
    names to keep (§9.6.1-9.6.4), e.g. {"VCALENDAR": [...], "VEVENT": ["SUMMARY", ...]}."""

    expand: TimeRange | None = None
    limit_recurrence: TimeRange | None = None
    limit_freebusy: TimeRange | None = None
    components: dict[str, tuple[str, ...] | None] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class AddressDataRequest:
    """RFC 6352 §10.4: which properties (None: all) and which vCard version to return."""

    properties: tuple[str, ...] | None = None
    content_type: str = "text/vcard"
    version: str = "3.0"
