"""Webmail's filters page (/webmail/settings/filters): rules, out of office, and Sieve scripts.

A front-end like ManageSieve: it reads forms and calls ``SieveRules`` (services/sieve/rules.py)
and ``SieveScripts`` (services/sieve/scripts.py) with ``user.actor.principal``; it never
touches the store, and it never shows administrators' scripts (the services list only the
user's own).

- **Rules and out of office** are edited as a form (the rules model), which writes the user's
  script "webmail". Every change is a plain form post answered by a redirect (post/redirect/
  get): add, edit, delete, move up and down work without JavaScript. When the user made
  another script active elsewhere (a ManageSieve client), saving stores the rules but leaves
  that script active, and the page says so and offers the choice ("use these rules instead").
- **The raw editor** lists the user's scripts and which one is active (activate, deactivate,
  delete), and edits one as text: "Check" compiles it and answers on the same page; "Save"
  stores it. A refused script comes back in the textarea as typed, with every error the
  compiler found (line and column) next to it, announced and focused (422).
- Dates of the out-of-office form are days (and, optionally, times) in the user's time zone
  (settings); the model keeps days with that zone, and a time as an instant in UTC.

Errors the services raise about one field (their message starts with the field's name) are
drawn next to that field; anything else (NOT_FOUND, a limit) as the page's alert.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import Kind, MailError, invalid
from postroom.services.sieve.rules import (
    FIELDS,
    INSTANT,
    MAX_CONDITIONS,
    MAX_TEXT,
    OPS,
    SCRIPT,
    Condition,
    Rule,
    Rules,
    RulesState,
    SieveRules,
    Vacation,
    check_rule,
    check_vacation,
    move_rule,
    put_rule,
    remove_rule,
)
from postroom.services.sieve.scripts import SieveScripts
from postroom.services.webmail import Webmail
from postroom.sieve.errors import SieveSyntaxError
from postroom.web.forms import Form, FormLimits, back, limits_of, read_form, status_of, text
from postroom.web.webmail.shell import page, user_of

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

HOME = "/webmail/settings/filters"
RULES = HOME + "/rules"
SCRIPTS = HOME + "/scripts"
EDIT_ROWS = 3  # empty condition rows a rule form offers at least
FIELD_NAMES = {"from": "From", "to": "To or Cc", "subject": "Subject", "list": "Mailing list"}
OP_NAMES = {"contains": "contains", "not_contains": "does not contain", "is": "is",
            "not_is": "is not"}
# a vacation refusal's first word → the form field it is about
VACATION_FIELDS = {"start": "start_date", "end": "end_date", "zone": "start_date",
                   "subject": "subject", "text": "text", "days": "days",
                   "addresses": "addresses"}


def _field_of(exc: MailError, fields: dict[str, str], default: str) -> str:
    word = exc.text.split(":", 1)[0].strip()
    return fields.get(word, default)


def _number(raw: str) -> int:
    """A 1-based rule number from the path as a list index; 404 for anything else."""
    if not (raw.isascii() and raw.isdigit() and 0 < len(raw) < 6) or int(raw) < 1:
        raise HTTPException(404)
    return int(raw) - 1


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def describe(rule: Rule) -> str:
    """The conditions of a rule in words, for the list."""
    if not rule.conditions:
        return "every message"
    parts = [f"{FIELD_NAMES.get(c.field, c.field)} {OP_NAMES.get(c.op, c.op)} “{c.value}”"
             for c in rule.conditions]
    return (" and " if rule.match == "all" else " or ").join(parts)


# -- the vacation form -------------------------------------------------------------------------
def vacation_values(vac: Vacation, zone: str) -> dict[str, str]:
    """The form's fields for a stored vacation: a day as it is, an instant as the day and
    time it is in the user's zone."""
    values = {"enabled": "on" if vac.enabled else "", "subject": vac.subject,
              "text": vac.text, "days": str(vac.days), "addresses": ", ".join(vac.addresses),
              "start_date": "", "start_time": "", "end_date": "", "end_time": ""}
    tz = _zone(zone) or UTC
    for name, bound in (("start", vac.start), ("end", vac.end)):
        if INSTANT.match(bound):
            local = datetime.strptime(bound, "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=UTC).astimezone(tz)
            values[f"{name}_date"] = local.date().isoformat()
            values[f"{name}_time"] = local.strftime("%H:%M")
        else:
            values[f"{name}_date"] = bound
    return values


def _bound(values: dict[str, str], name: str, zone: str) -> str:
    day, at = values[f"{name}_date"], values[f"{name}_time"]
    if not day:
        if at:
            raise invalid(f"{name}: give the date too")
        return ""
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise invalid(f"{name}: a date (YYYY-MM-DD)") from None
    if not at:
        return parsed.isoformat()
    try:
        clock = time.fromisoformat(at)
    except ValueError:
        raise invalid(f"{name}: a time (HH:MM)") from None
    local = datetime.combine(parsed, clock.replace(second=0, microsecond=0),
                             _zone(zone) or UTC)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def vacation_from(values: dict[str, str], zone: str, html: bool) -> Vacation:
    """The vacation the form describes; INVALID naming the field."""
    days_raw = values["days"] or "7"
    if not (days_raw.isascii() and days_raw.isdigit() and len(days_raw) < 5):
        raise invalid("days: a whole number")
    addresses = tuple(a for a in values["addresses"].replace(",", " ").split() if a)
    tz = zone if _zone(zone) is not None else ""
    return check_vacation(Vacation(
        bool(values["enabled"]), _bound(values, "start", tz), _bound(values, "end", tz), tz,
        values["subject"], values["text"].replace("\r\n", "\n"), html, int(days_raw),
        addresses))


# -- the rule form -----------------------------------------------------------------------------
def rule_values(rule: Rule) -> dict[str, Any]:
    rows = [{"field": c.field, "op": c.op, "value": c.value} for c in rule.conditions]
    while len(rows) < min(MAX_CONDITIONS, max(EDIT_ROWS, len(rule.conditions) + 1)):
        rows.append({"field": "from", "op": "contains", "value": ""})
    return {"name": rule.name, "enabled": rule.enabled, "match": rule.match, "rows": rows,
            "folder": rule.folder, "mark_read": rule.mark_read, "flag": rule.flag,
            "forward": rule.forward, "keep_copy": rule.keep_copy, "discard": rule.discard,
            "stop": rule.stop}


def rule_from(form: Form) -> tuple[Rule, dict[str, Any]]:
    """The rule the form describes (not yet checked) and the form's values as typed."""
    rows: list[dict[str, str]] = []
    conditions: list[Condition] = []
    for n in range(MAX_CONDITIONS):
        if f"cond-{n}-field" not in form.values():
            break
        row = {"field": text(form, f"cond-{n}-field"), "op": text(form, f"cond-{n}-op"),
               "value": text(form, f"cond-{n}-value")}
        rows.append(row)
        if row["value"]:
            conditions.append(Condition(row["field"], row["op"], row["value"]))
    rule = Rule(text(form, "name"), form.checked("enabled"), text(form, "match") or "all",
                tuple(conditions), text(form, "folder"), form.checked("mark_read"),
                form.checked("flag"), text(form, "forward"), form.checked("keep_copy"),
                form.checked("discard"), form.checked("stop"))
    values = rule_values(rule)
    values["rows"] = rows or values["rows"]
    return rule, values


def rule_error(rule: Rule, rows: list[dict[str, str]], exc: MailError) -> dict[str, str]:
    """Which field of the rule form a refusal is about: a condition's row, or a field."""
    word = exc.text.split(":", 1)[0].strip()
    if word in ("field", "op", "value"):
        for n, row in enumerate(rows):
            if not row["value"]:
                continue
            probe = Rule(conditions=(Condition(row["field"], row["op"], row["value"]),),
                         stop=True)
            try:
                check_rule(probe)
            except MailError as found:
                return {f"cond-{n}-{word}": found.text}
    target = {"name": "name", "match": "match", "folder": "folder", "forward": "forward",
              "discard": "discard", "actions": "folder", "conditions": "cond-0-value"}
    return {target.get(word, "name"): exc.text}


# -- routes ------------------------------------------------------------------------------------
def routes(wm: Webmail, services: WebServices, web: WebSettings) -> list[BaseRoute]:
    def service() -> tuple[SieveRules, SieveScripts]:
        scripts = services.sieve_scripts
        if scripts is None:
            raise HTTPException(404, "Sieve is not enabled on this server")
        return SieveRules(scripts), scripts

    async def folders_of(request: Request) -> list[str]:
        user = user_of(request)
        return [f.name for f in await wm.folders.tree(user.actor.principal)
                if f.id is not None and f.may_insert]

    async def zone_of(request: Request) -> str:
        return (await wm.prefs.get(user_of(request).actor.principal)).timezone

    # -- the page --------------------------------------------------------------------------
    async def home(request: Request, *, vacation: dict[str, str] | None = None,
                   errors: dict[str, str] | None = None, status: int = 200) -> Response:
        rules, _ = service()
        user = user_of(request)
        state = await rules.load(user.actor.principal)
        zone = await zone_of(request)
        return await page(request, wm, "webmail/filters.html", {
            "state": state, "script": SCRIPT, "describe": describe, "zone": zone,
            "vacation": vacation or vacation_values(state.rules.vacation, zone),
            "vacation_state": state.rules.vacation.state(),
            "html": state.rules.vacation.html, "errors": errors or {}}, status=status)

    async def index(request: Request) -> Response:
        return await home(request)

    async def save(request: Request, state: RulesState, new: Rules, done: str) -> Response:
        rules, _ = service()
        user = user_of(request)
        saved = await rules.save(user.actor.principal, new, origin=user.actor.origin)
        note = done
        if not saved.active:
            note += (f" They are not in use: your script “{state.other_active}” is active."
                     if state.other_active else " They are not in use.")
        if saved.warnings:
            note += " " + " ".join(saved.warnings)
        return back(HOME, note)

    # -- out of office ---------------------------------------------------------------------
    async def vacation(request: Request) -> Response:
        rules, _ = service()
        user = user_of(request)
        form = await read_form(request, FormLimits(max(limits_of(request).max_field,
                                                       MAX_TEXT), limits_of(request).max_fields))
        values = {k: text(form, k) for k in ("subject", "days", "addresses", "start_date",
                                             "start_time", "end_date", "end_time")}
        values["text"] = form.raw("text")
        values["enabled"] = "on" if form.checked("enabled") else ""
        state = await rules.load(user.actor.principal)
        try:
            vac = vacation_from(values, await zone_of(request), state.rules.vacation.html)
        except MailError as exc:
            field = _field_of(exc, VACATION_FIELDS, "text")
            return await home(request, vacation=values, errors={field: exc.text},
                              status=status_of(exc))
        done = "Out of office saved." if vac.enabled else "Out of office is off."
        return await save(request, state, replace(state.rules, vacation=vac), done)

    # -- rules -----------------------------------------------------------------------------
    async def rule_page(request: Request, number: int | None, values: dict[str, Any],
                        errors: dict[str, str] | None = None, status: int = 200) -> Response:
        service()
        return await page(request, wm, "webmail/filters_rule.html", {
            "number": number, "values": values, "errors": errors or {},
            "folders": await folders_of(request), "fields": FIELDS, "ops": OPS,
            "field_names": FIELD_NAMES, "op_names": OP_NAMES}, status=status)

    async def rule_new(request: Request) -> Response:
        return await rule_page(request, None, rule_values(Rule()))

    async def rule_edit(request: Request) -> Response:
        rules, _ = service()
        index = _number(str(request.path_params["n"]))
        state = await rules.load(user_of(request).actor.principal)
        if index >= len(state.rules.rules):
            raise HTTPException(404)
        return await rule_page(request, index + 1, rule_values(state.rules.rules[index]))

    async def rule_save(request: Request) -> Response:
        rules, _ = service()
        user = user_of(request)
        form = await read_form(request)
        raw = text(form, "number")
        index = _number(raw) if raw else None
        rule, values = rule_from(form)
        state = await rules.load(user.actor.principal)
        try:
            new = put_rule(state.rules, rule, index)
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                raise
            return await rule_page(request, None if index is None else index + 1, values,
                                   rule_error(rule, values["rows"], exc), status_of(exc))
        return await save(request, state, new, "Rule saved.")

    async def rule_action(request: Request) -> Response:
        rules, _ = service()
        user = user_of(request)
        index = _number(str(request.path_params["n"]))
        what = str(request.path_params["what"])
        await read_form(request)  # the CSRF token was checked by the session layer
        state = await rules.load(user.actor.principal)
        if what == "up":
            return await save(request, state, move_rule(state.rules, index, -1), "Rule moved up.")
        if what == "down":
            return await save(request, state, move_rule(state.rules, index, 1),
                              "Rule moved down.")
        if what == "delete":
            return await save(request, state, remove_rule(state.rules, index), "Rule deleted.")
        raise HTTPException(404)

    async def use_rules(request: Request) -> Response:
        """The user's choice: the form's rules become the active script."""
        rules, _ = service()
        user = user_of(request)
        await read_form(request)
        state = await rules.load(user.actor.principal)
        saved = await rules.save(user.actor.principal, state.rules, activate=True,
                                 origin=user.actor.origin)
        note = "Your rules are in use now." + (
            f" “{state.other_active}” is kept, inactive." if state.other_active else "")
        return back(HOME, note + ("" if not saved.warnings else " " + " ".join(saved.warnings)))

    # -- the raw editor --------------------------------------------------------------------
    async def editor(request: Request, name: str, source: str, *, new: bool,
                     errors: list[dict[str, Any]] | None = None, message: str = "",
                     checked: bool = False, warnings: list[str] | None = None,
                     activate: bool = False, status: int = 200) -> Response:
        return await page(request, wm, "webmail/filters_script.html", {
            "name": name, "source": source, "new": new, "script_errors": errors or [],
            "message": message, "checked": checked, "warnings": warnings or [],
            "activate": activate, "form_script": SCRIPT, "errors": {}}, status=status)

    async def script_edit(request: Request) -> Response:
        _, scripts = service()
        user = user_of(request)
        name = request.query_params.get("name", "")
        if not name:
            return await editor(request, "", "", new=True)
        source = await scripts.get(user.actor.principal, name)
        return await editor(request, name, source, new=False)

    async def script_post(request: Request) -> Response:
        _, scripts = service()
        user = user_of(request)
        base = limits_of(request)
        form = await read_form(request, FormLimits(
            max(base.max_field, scripts.limits.max_script_size + 1024), base.max_fields))
        name, source = text(form, "name"), form.raw("source").replace("\r\n", "\n")
        new = form.checked("new")
        activate = form.checked("activate")
        action = text(form, "do")
        try:
            if action == "check":
                warnings = await scripts.check(user.actor.principal, source)
                return await editor(request, name, source, new=new, checked=True,
                                    warnings=warnings, activate=activate)
            warnings = await scripts.put(user.actor.principal, name, source,
                                         origin=user.actor.origin)
            if activate:
                await scripts.activate(user.actor.principal, name, origin=user.actor.origin)
        except SieveSyntaxError as exc:
            found = [{"line": e.line, "column": e.column, "message": e.message}
                     for e in (exc.errors or [exc])]
            return await editor(request, name, source, new=new, errors=found,
                                activate=activate, status=422)
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                raise
            return await editor(request, name, source, new=new, message=exc.text,
                                activate=activate, status=status_of(exc))
        note = f"Script “{name}” saved" + (" and active." if activate else ".")
        return back(HOME, note + ("" if not warnings else " " + " ".join(warnings)))

    async def script_action(request: Request) -> Response:
        _, scripts = service()
        user = user_of(request)
        form = await read_form(request)
        name = text(form, "name")
        what = str(request.path_params["what"])
        principal, origin = user.actor.principal, user.actor.origin
        if what == "activate":
            await scripts.activate(principal, name, origin=origin)
            return back(HOME, f"Script “{name}” is active.")
        if what == "deactivate":
            await scripts.activate(principal, "", origin=origin)
            return back(HOME, "No script is active: mail is no longer filtered.")
        if what == "delete":
            try:
                await scripts.delete(principal, name, origin=origin)
            except MailError as exc:
                if exc.kind is not Kind.IN_USE:
                    raise
                return back(HOME, f"Script “{name}” is active: deactivate it first.")
            return back(HOME, f"Script “{name}” deleted.")
        raise HTTPException(404)

    return [Route(HOME, index, methods=["GET"]),
            Route(HOME + "/vacation", vacation, methods=["POST"]),
            Route(HOME + "/use", use_rules, methods=["POST"]),
            Route(RULES + "/new", rule_new, methods=["GET"]),
            Route(RULES, rule_save, methods=["POST"]),
            Route(RULES + "/{n}", rule_edit, methods=["GET"]),
            Route(RULES + "/{n}/{what}", rule_action, methods=["POST"]),
            Route(SCRIPTS, script_edit, methods=["GET"]),
            Route(SCRIPTS, script_post, methods=["POST"]),
            Route(SCRIPTS + "/{what}", script_action, methods=["POST"])]
