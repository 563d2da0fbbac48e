"""The rules users want, as a form can edit them, and the Sieve script they stand for.

Webmail's filters page and ActiveSync's out-of-office (Settings Oof) do not write Sieve: they
edit a ``Rules`` value — an ordered list of rules (conditions on From, To/Cc, Subject or the
mailing list, and actions: file into a folder, mark as read, flag, forward with or without a
copy kept, discard, stop) and one vacation (RFC 5230) with optional start and end (RFC 5260
``currentdate``) — and ``to_sieve`` turns that into a readable script.

Design and invariants:

- **One script per user belongs to the form**: ``SCRIPT`` ("webmail"). The form never edits
  another script, and never reads meaning out of hand-written Sieve: the generated script
  starts with a marker comment carrying the rules as JSON (``# postroom-rules v1 {...}``), which
  ``parse_generated`` reads back. A script whose body is no longer what its marker generates
  was changed elsewhere (ManageSieve, the raw editor): the form says so before replacing it.
- **Nothing is replaced silently**: saving activates the form's script only when no script is
  active or it already is; when the user activated another script elsewhere, the rules are
  stored but that script stays active until the user chooses (``SieveRules.save(activate=)``).
- **Everything goes through ``SieveScripts``** (services/sieve/scripts.py): the same name,
  size and rights checks, compile check and audit as ManageSieve.
- Generation is deterministic (same rules → same text), so "changed elsewhere" is an exact
  comparison, and a generated script always compiles (tests/sieve/test_rules.py).

Semantics chosen (written where the rules are documented for users, docs/sieve.md):

- a rule's conditions are joined by ``allof`` ("all") or ``anyof`` ("any"); no condition means
  every message. "From/To contains" tests the whole header field (display names too), "is"
  compares the address (RFC 5228 §5.1 ``address :all``); To means To or Cc; the list is the
  List-Id field (RFC 2919), "is" matching the identifier between angle brackets;
- marking read or flagged with a folder sets the flags on that copy (RFC 5232 ``:flags``);
  without a folder it uses ``addflag`` (the copy kept in the inbox gets them, and so does a
  later rule's copy);
- forwarding is ``redirect`` (RFC 5228 §4.2), with ``:copy`` (RFC 3894) when a copy is kept;
- the vacation comes first, so a rule's ``stop`` or ``discard`` does not silence it. A day
  bound compares the date in the user's time zone (``currentdate :zone "+hhmm" :value "ge"
  "date" "2026-12-20"``, the offset that zone has on that day); an instant (from a phone's
  StartTime/EndTime) compares in UTC (``:zone "+0000" ... "iso8601"``). The end day is
  included; an end instant is not.
"""

from __future__ import annotations

import json
import quopri
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from postroom.core.actor import Origin
from postroom.core.address import Address
from postroom.core.errors import Kind, MailError, invalid
from postroom.core.principal import Principal
from postroom.services.sieve.scripts import ScriptInfo, SieveScripts

SCRIPT = "webmail"  # the script the form owns
MARKER = "# postroom-rules v1 "
FIELDS = ("from", "to", "subject", "list")
OPS = ("contains", "not_contains", "is", "not_is")
MATCHES = ("all", "any")
MAX_RULES = 100
MAX_CONDITIONS = 10
MAX_VALUE = 1000  # characters of a condition's value, a folder name, an address
MAX_TEXT = 20_000  # characters of the vacation text
MAX_SUBJECT = 500
MAX_ADDRESSES = 20
MIN_DAYS, MAX_DAYS = 1, 365  # RFC 5230 §4.1 ``:days`` (the server still clamps it)
DEFAULT_DAYS = 7
DAY = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")
INSTANT = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")


@dataclass(frozen=True, slots=True)
class Condition:
    field: str  # one of FIELDS
    op: str  # one of OPS
    value: str


@dataclass(frozen=True, slots=True)
class Rule:
    name: str = ""
    enabled: bool = True
    match: str = "all"  # "all" | "any": how the conditions combine
    conditions: tuple[Condition, ...] = ()
    folder: str = ""  # file into this folder ("" = leave where it goes)
    mark_read: bool = False
    flag: bool = False
    forward: str = ""  # an address to forward to ("" = none)
    keep_copy: bool = True  # when forwarding: also keep it here
    discard: bool = False
    stop: bool = False  # no later rule runs

    def actions(self) -> list[str]:
        """What it does, in words, for the list of rules."""
        out: list[str] = []
        if self.folder:
            out.append(f"move to {self.folder}")
        if self.mark_read:
            out.append("mark as read")
        if self.flag:
            out.append("flag")
        if self.forward:
            out.append(f"forward to {self.forward}" + (" (keep a copy)" if self.keep_copy
                                                       and not self.discard else ""))
        if self.discard:
            out.append("delete")
        if self.stop:
            out.append("stop")
        return out


@dataclass(frozen=True, slots=True)
class Vacation:
    enabled: bool = False
    start: str = ""  # "" | "YYYY-MM-DD" (a day in ``zone``) | "YYYY-MM-DDTHH:MM:SSZ" (UTC)
    end: str = ""  # the same; a day is included, an instant is not
    zone: str = ""  # IANA time zone of day bounds ("" = UTC)
    subject: str = ""  # "" = "Auto: " + the original subject (RFC 5230 §4.5)
    text: str = ""
    html: bool = False  # ``text`` is HTML (sent as a text/html MIME part, RFC 5230 §4.7)
    days: int = DEFAULT_DAYS  # at most one reply per sender in this many days (§4.1)
    addresses: tuple[str, ...] = ()  # more addresses of mine (§4.5), besides the account's

    def window(self) -> tuple[datetime | None, datetime | None]:
        """The start and end as instants (UTC): a start day from its first moment in the
        zone, an end day until the first moment of the next day."""
        return (_instant(self.start, self.zone, False), _instant(self.end, self.zone, True))

    def state(self, now: datetime | None = None) -> str:
        """"off", "on" (no dates), "scheduled" (dates, not yet or still to come),
        "over" (the end has passed)."""
        if not self.enabled:
            return "off"
        if not self.start and not self.end:
            return "on"
        _, end = self.window()
        moment = now or datetime.now(UTC)
        if end is not None and end <= moment:
            return "over"
        return "scheduled"


@dataclass(frozen=True, slots=True)
class Rules:
    rules: tuple[Rule, ...] = ()
    vacation: Vacation = field(default_factory=Vacation)


# -- checking ----------------------------------------------------------------------------------
def check(rules: Rules) -> Rules:
    """``rules`` if every value is acceptable, else INVALID naming the field (the form shows
    the message next to it: the first word of the message is the field's name)."""
    if len(rules.rules) > MAX_RULES:
        raise invalid(f"rules: at most {MAX_RULES}")
    for rule in rules.rules:
        check_rule(rule)
    check_vacation(rules.vacation)
    return rules


def check_rule(rule: Rule) -> Rule:
    _length("name", rule.name, MAX_VALUE)
    if rule.match not in MATCHES:
        raise invalid("match: all or any")
    if len(rule.conditions) > MAX_CONDITIONS:
        raise invalid(f"conditions: at most {MAX_CONDITIONS}")
    for cond in rule.conditions:
        if cond.field not in FIELDS:
            raise invalid(f"field: one of {', '.join(FIELDS)}")
        if cond.op not in OPS:
            raise invalid("op: contains, does not contain, is, is not")
        if not cond.value.strip():
            raise invalid("value: say what to look for")
        _length("value", cond.value, MAX_VALUE)
        _no_controls("value", cond.value)
    _length("folder", rule.folder, MAX_VALUE)
    _no_controls("folder", rule.folder)
    if rule.forward:
        _address("forward", rule.forward)
    if not (rule.folder or rule.mark_read or rule.flag or rule.forward or rule.discard
            or rule.stop):
        raise invalid("actions: choose at least one thing to do")
    if rule.discard and rule.folder:
        raise invalid("discard: deleting and moving to a folder exclude each other")
    return rule


def check_vacation(vac: Vacation) -> Vacation:
    if vac.zone:
        _zone(vac.zone)
    for name, value in (("start", vac.start), ("end", vac.end)):
        if value and not (DAY.match(value) or INSTANT.match(value)):
            raise invalid(f"{name}: a date (YYYY-MM-DD)")
        if value:
            try:
                _instant(value, vac.zone, False)
            except ValueError:
                raise invalid(f"{name}: {value} is not a date") from None
    start, end = vac.window()
    if start is not None and end is not None and end <= start:
        raise invalid("end: the end comes before the start")
    _length("subject", vac.subject, MAX_SUBJECT)
    if any(c in vac.subject for c in "\r\n"):
        raise invalid("subject: one line")
    _length("text", vac.text, MAX_TEXT)
    if vac.enabled and not vac.text.strip():
        raise invalid("text: write the reply")
    if not MIN_DAYS <= vac.days <= MAX_DAYS:
        raise invalid(f"days: between {MIN_DAYS} and {MAX_DAYS}")
    if len(vac.addresses) > MAX_ADDRESSES:
        raise invalid(f"addresses: at most {MAX_ADDRESSES}")
    for address in vac.addresses:
        _address("addresses", address)
    return vac


def _length(name: str, value: str, most: int) -> None:
    if len(value) > most:
        raise invalid(f"{name}: at most {most} characters")


def _no_controls(name: str, value: str) -> None:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise invalid(f"{name}: one line, without control characters")


def _address(name: str, value: str) -> None:
    try:
        Address.parse(value)
    except MailError:
        raise invalid(f"{name}: {value} is not an email address") from None


def _zone(name: str) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(f"zone: unknown time zone {name}") from None


def _instant(value: str, zone: str, end: bool) -> datetime | None:
    """A bound as an instant (UTC); raises ValueError for a date that does not exist."""
    if not value:
        return None
    if INSTANT.match(value):
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    day = date.fromisoformat(value)
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), _zone(zone)).astimezone(UTC)


def _offset(day: str, zone: str) -> str:
    """The "+hhmm" offset ``zone`` has at the start of ``day`` (RFC 5260 §4.1 time-zone)."""
    when = datetime.combine(date.fromisoformat(day), time(0), _zone(zone))
    minutes = int((when.utcoffset() or timedelta(0)).total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


# -- generating --------------------------------------------------------------------------------
def quote(value: str) -> str:
    """A Sieve quoted string (RFC 5228 §2.4.2: only ``"`` and ``\\`` are escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _strings(values: Iterable[str]) -> str:
    items = [quote(v) for v in values]
    return items[0] if len(items) == 1 else "[" + ", ".join(items) + "]"


def _wild(value: str) -> str:
    """``value`` literal inside a ``:matches`` key (RFC 5228 §2.7.1: ``*``, ``?``, ``\\``)."""
    return re.sub(r"([*?\\])", r"\\\1", value)


def _test(cond: Condition) -> str:
    negate = cond.op.startswith("not_")
    op = cond.op.removeprefix("not_")
    value = cond.value.strip()
    if cond.field == "subject":
        text = f'header :{op} "subject" {quote(value)}'
    elif cond.field == "list":  # RFC 2919 §3: List-Id: phrase <list-id>
        if op == "is":
            ident = value.strip("<>")
            text = f'header :matches "list-id" {_strings([_wild(ident), f"*<{_wild(ident)}>"])}'
        else:
            text = f'header :contains "list-id" {quote(value)}'
    else:
        names = '"from"' if cond.field == "from" else '["to", "cc"]'
        text = f"address :all :is {names} {quote(value)}" if op == "is" else \
            f"header :contains {names} {quote(value)}"
    return f"not {text}" if negate else text


def _condition(rule: Rule) -> str:
    tests = [_test(c) for c in rule.conditions]
    if not tests:
        return "true"
    if len(tests) == 1:
        return tests[0]
    joiner = "allof" if rule.match == "all" else "anyof"
    return f"{joiner} (" + ",\n        ".join(tests) + ")"


def _rule_body(rule: Rule) -> list[str]:
    lines: list[str] = []
    flags = [f for f, on in (("\\Seen", rule.mark_read), ("\\Flagged", rule.flag)) if on]
    if flags and not rule.folder and not rule.discard:
        lines.append(f"addflag {_strings(flags)};")
    if rule.folder:
        tag = f":flags {_strings(flags)} " if flags else ""
        lines.append(f"fileinto {tag}{quote(rule.folder)};")
    if rule.forward:
        copy = ":copy " if rule.keep_copy and not rule.discard and not rule.folder else ""
        lines.append(f"redirect {copy}{quote(rule.forward)};")
    if rule.discard:
        lines.append("discard;")
    if rule.stop:
        lines.append("stop;")
    return lines


def _vacation(vac: Vacation) -> list[str]:
    bounds: list[str] = []
    for value, rel in ((vac.start, "ge"), (vac.end, "le")):
        if not value:
            continue
        if INSTANT.match(value):
            rel = "lt" if rel == "le" else rel
            bounds.append(f'currentdate :zone "+0000" :value "{rel}" "iso8601" {quote(value)}')
        else:
            bounds.append(f'currentdate :zone "{_offset(value, vac.zone)}" :value "{rel}" '
                          f'"date" {quote(value)}')
    tags = [f":days {vac.days}"]
    if vac.subject:
        tags.append(f":subject {quote(vac.subject)}")
    if vac.addresses:
        tags.append(f":addresses {_strings(vac.addresses)}")
    reason = vac.text
    if vac.html:
        tags.append(":mime")
        reason = _html_entity(vac.text)
    command = f"vacation {' '.join(tags)}\n    {quote(reason)};"
    if not bounds:
        return [command]
    test = bounds[0] if len(bounds) == 1 else "allof (" + ",\n        ".join(bounds) + ")"
    return [f"if {test} {{", "    " + command, "}"]


def _html_entity(html: str) -> str:
    """A MIME entity for an HTML reply (RFC 5230 §4.7 ``:mime``): quoted-printable when the
    text is not plain ASCII, so the reply stays 7-bit."""
    text = html.replace("\r\n", "\n")
    data = text.encode("utf-8")
    head = "Content-Type: text/html; charset=utf-8\n"  # LF: a quoted string's line ends
    if data.isascii() and all(len(line) <= 998 for line in data.split(b"\n")):
        return head + "Content-Transfer-Encoding: 7bit\n\n" + text  # are CRLF when run
    body = quopri.encodestring(data).decode("ascii")
    return head + "Content-Transfer-Encoding: quoted-printable\n\n" + body


def to_sieve(rules: Rules) -> str:
    """The script for ``rules``: the marker line, ``require``, the vacation, then each enabled
    rule in order (a disabled rule stays in the marker only). Deterministic."""
    body: list[str] = []
    need: set[str] = set()
    vac = rules.vacation
    if vac.enabled:
        need.add("vacation")
        if vac.start or vac.end:
            need |= {"date", "relational"}
        body.append("# Out of office" + (f" ({vac.start or '…'} to {vac.end or '…'})"
                                          if vac.start or vac.end else ""))
        body.extend(_vacation(vac))
        body.append("")
    for number, rule in enumerate(rules.rules, 1):
        if not rule.enabled:
            continue
        if rule.folder:
            need.add("fileinto")
        if rule.mark_read or rule.flag:
            need.add("imap4flags")
        if rule.forward and rule.keep_copy and not rule.discard and not rule.folder:
            need.add("copy")
        title = rule.name.replace("\n", " ").replace("\r", " ")
        body.append(f"# Rule {number}" + (f": {title}" if title else ""))
        body.append(f"if {_condition(rule)} {{")
        body.extend("    " + line for line in _rule_body(rule))
        body.append("}")
        body.append("")
    head = [MARKER + json.dumps(_dump(rules), ensure_ascii=False, sort_keys=True,
                                separators=(",", ":")),
            "# Made by the filters page of webmail: edits made here by hand are shown there",
            "# before the form replaces them."]
    if need:
        head.append(f"require {_strings(sorted(need))};")
    text = "\n".join([*head, "", *body]).rstrip("\n") + "\n"
    # one line end throughout (RFC 5228 §2.4.2 reads any in a quoted string as CRLF), so
    # that a stored copy compares equal whatever the text fields held
    return text.replace("\r\n", "\n").replace("\r", "\n")


# -- reading back ------------------------------------------------------------------------------
def parse_generated(text: str) -> Rules | None:
    """The rules of a script ``to_sieve`` made (its marker line), or None when the script has
    no readable marker. Whether the script was changed after: ``is_pristine``."""
    first = text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
    if not first.startswith(MARKER):
        return None
    try:
        data = json.loads(first[len(MARKER):])
        return check(_load(data))
    except (ValueError, TypeError, KeyError, AttributeError, MailError):
        return None


def is_pristine(text: str, rules: Rules) -> bool:
    """The script is exactly what ``rules`` generate (line ends aside)."""
    return text.replace("\r\n", "\n") == to_sieve(rules)


def _dump(rules: Rules) -> dict[str, object]:
    def rule(r: Rule) -> dict[str, object]:
        return {"name": r.name, "enabled": r.enabled, "match": r.match,
                "conditions": [[c.field, c.op, c.value] for c in r.conditions],
                "folder": r.folder, "mark_read": r.mark_read, "flag": r.flag,
                "forward": r.forward, "keep_copy": r.keep_copy, "discard": r.discard,
                "stop": r.stop}
    v = rules.vacation
    return {"rules": [rule(r) for r in rules.rules],
            "vacation": {"enabled": v.enabled, "start": v.start, "end": v.end, "zone": v.zone,
                         "subject": v.subject, "text": v.text, "html": v.html, "days": v.days,
                         "addresses": list(v.addresses)}}


def _str(data: Mapping[str, object], key: str, default: str = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise TypeError(key)
    return value


def _bool(data: Mapping[str, object], key: str, default: bool = False) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise TypeError(key)
    return value


def _load(data: object) -> Rules:
    if not isinstance(data, dict):
        raise TypeError("rules")
    out: list[Rule] = []
    for item in data.get("rules", []):
        if not isinstance(item, dict):
            raise TypeError("rule")
        conds = tuple(Condition(str(f), str(o), str(v)) for f, o, v in item.get("conditions", []))
        out.append(Rule(_str(item, "name"), _bool(item, "enabled", True),
                        _str(item, "match", "all"), conds, _str(item, "folder"),
                        _bool(item, "mark_read"), _bool(item, "flag"), _str(item, "forward"),
                        _bool(item, "keep_copy", True), _bool(item, "discard"),
                        _bool(item, "stop")))
    v = data.get("vacation", {})
    if not isinstance(v, dict):
        raise TypeError("vacation")
    days = v.get("days", DEFAULT_DAYS)
    addresses = v.get("addresses", [])
    if not isinstance(days, int) or isinstance(days, bool) or not isinstance(addresses, list):
        raise TypeError("vacation")
    vac = Vacation(_bool(v, "enabled"), _str(v, "start"), _str(v, "end"), _str(v, "zone"),
                   _str(v, "subject"), _str(v, "text"), _bool(v, "html"), days,
                   tuple(str(a) for a in addresses))
    return Rules(tuple(out), vac)


# -- editing a list of rules -------------------------------------------------------------------
def put_rule(rules: Rules, rule: Rule, index: int | None) -> Rules:
    """``rules`` with ``rule`` added at the end (``index`` None) or replacing rule ``index``."""
    check_rule(rule)
    items = list(rules.rules)
    if index is None:
        if len(items) >= MAX_RULES:
            raise MailError(Kind.LIMIT, f"rules: at most {MAX_RULES}")
        items.append(rule)
    else:
        _index(items, index)
        items[index] = rule
    return replace(rules, rules=tuple(items))


def remove_rule(rules: Rules, index: int) -> Rules:
    items = list(rules.rules)
    _index(items, index)
    del items[index]
    return replace(rules, rules=tuple(items))


def move_rule(rules: Rules, index: int, step: int) -> Rules:
    """Rule ``index`` one place up (``step`` -1) or down (+1); at an end it stays."""
    items = list(rules.rules)
    _index(items, index)
    other = index + step
    if 0 <= other < len(items):
        items[index], items[other] = items[other], items[index]
    return replace(rules, rules=tuple(items))


def _index(items: list[Rule], index: int) -> None:
    if not 0 <= index < len(items):
        raise MailError(Kind.NOT_FOUND, "no such rule (the list changed: look again)")


# -- the service -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RulesState:
    """What the filters page shows."""

    rules: Rules  # the form's rules (empty when there is no form script)
    scripts: tuple[ScriptInfo, ...]  # every script of the user
    active: str | None  # the active script's name
    stored: bool  # the form's script exists
    edited: bool  # ... but was changed elsewhere (or has no marker): saving replaces that

    @property
    def other_active(self) -> str | None:
        """The name of another script that is active (made elsewhere), else None."""
        return self.active if self.active not in (None, SCRIPT) else None

    @property
    def in_force(self) -> bool:
        """The form's rules are what runs at delivery."""
        return self.active == SCRIPT and not self.edited


@dataclass(frozen=True, slots=True)
class Saved:
    warnings: tuple[str, ...]
    active: bool  # the form's script is the active one now


class SieveRules:
    """Reads and writes the form's script through ``SieveScripts`` (module doc)."""

    def __init__(self, scripts: SieveScripts) -> None:
        self.scripts = scripts

    async def load(self, actor: Principal, owner: str | None = None) -> RulesState:
        infos = tuple(await self.scripts.list(actor, owner))
        active = next((i.name for i in infos if i.active), None)
        if not any(i.name == SCRIPT for i in infos):
            return RulesState(Rules(), infos, active, False, False)
        text = await self.scripts.get(actor, SCRIPT, owner)
        rules = parse_generated(text)
        if rules is None:
            return RulesState(Rules(), infos, active, True, True)
        return RulesState(rules, infos, active, True, not is_pristine(text, rules))

    async def save(self, actor: Principal, rules: Rules, *, activate: bool | None = None,
                   owner: str | None = None, origin: Origin | None = None) -> Saved:
        """Store the form's script. ``activate`` None: make it active unless another script
        is (then it waits for the user's choice); True: make it active in any case; False:
        only store it."""
        text = to_sieve(check(rules))
        warnings = await self.scripts.put(actor, SCRIPT, text, owner, origin=origin)
        active = await self.scripts.active(actor, owner)
        if activate is None:
            activate = active in (None, SCRIPT)
        if activate and active != SCRIPT:
            await self.scripts.activate(actor, SCRIPT, owner, origin=origin)
            active = SCRIPT
        return Saved(tuple(warnings), active == SCRIPT)

    async def vacation(self, actor: Principal, owner: str | None = None) -> Vacation | None:
        """The vacation that runs at delivery: the form's, when its script is active; None
        when another script is active (what it answers is not known here)."""
        state = await self.load(actor, owner)
        if state.active is None or (state.active == SCRIPT and not state.edited):
            return state.rules.vacation if state.active == SCRIPT else Vacation()
        return None

    async def set_vacation(self, actor: Principal, vacation: Vacation, *,
                           owner: str | None = None, origin: Origin | None = None) -> Saved:
        """Replace the vacation, keeping the rules; IN_USE when another script is active or
        the form's script was changed elsewhere (replacing either is the user's choice, made
        on the filters page)."""
        state = await self.load(actor, owner)
        if state.other_active is not None:
            raise MailError(Kind.IN_USE, f"the Sieve script {state.other_active!r} is active; "
                            "choose on webmail's filters page")
        if state.edited:
            raise MailError(Kind.IN_USE, f"the script {SCRIPT!r} was changed by hand; "
                            "choose on webmail's filters page")
        return await self.save(actor, replace(state.rules, vacation=check_vacation(vacation)),
                               owner=owner, origin=origin)
