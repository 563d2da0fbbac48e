"""Settings Oof (MS-ASCMD §2.2.3.122): the out-of-office reply as Sieve vacation.

The phone's out-of-office setting is the vacation of the user's rules (services/sieve/rules.py
``SieveRules``): the script "webmail" whose filters page shows the same reply, so a phone,
webmail and ManageSieve clients see one setting and delivery answers by RFC 5230 and RFC 3834
(never to lists, bulk or automatic mail; once per sender per period).

Get (§2.2.3.83): OofState (§2.2.3.124) 0 when the vacation is off, 1 when it is on without
dates, 2 with StartTime/EndTime (§2.2.3.176.2, §2.2.3.61.2; a bound the user set as a day in
webmail is that day's first moment in the user's zone, an end day the next day's). One
OofMessage (§2.2.3.123) per audience — AppliesToInternal, AppliesToExternalKnown,
AppliesToExternalUnknown — all with the same reply: Sieve vacation answers every sender alike.
ReplyMessage (§2.2.3.149) in the BodyType (§2.2.3.17) asked for: a text reply asked as HTML is
escaped with line breaks; an HTML reply asked as text loses its tags.

Set (§2.2.3.167): OofState 0 turns the vacation off (its text kept), 1 on, 2 on between
StartTime and EndTime (both required: Status 5 otherwise; an end not after the start is
Status 6, conflicting arguments). The reply is the first enabled OofMessage, internal first;
OofMessage elements all disabled turn the vacation off; none at all keep the stored reply.
The subject, period and other addresses set in webmail are kept.

When the user made another Sieve script active (a ManageSieve client), or edited the form's
script by hand, Oof Get reports 0 — what that script answers is not known here — and Oof Set
is refused with Status 7 (denied by policy): replacing the user's own script is a choice made
on webmail's filters page, never by a phone. Without Sieve on the server the same.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime

from postroom.core.actor import Origin
from postroom.core.errors import Kind, MailError
from postroom.protocols.eas.element import Element
from postroom.services.sieve.rules import SieveRules, Vacation
from postroom.web.eas.common import CommandContext

log = logging.getLogger("postroom.eas")
NS = "Settings"
AUDIENCES = ("AppliesToInternal", "AppliesToExternalKnown", "AppliesToExternalUnknown")
# Status of an Oof Get/Set (MS-ASCMD §2.2.3.177.15)
SUCCESS, PROTOCOL_ERROR, INVALID_ARGUMENTS, CONFLICTING_ARGUMENTS, DENIED = 1, 2, 5, 6, 7
TIME = re.compile(r"\A(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d{1,3})?Z\Z")
MAX_REPLY = 20_000  # characters (services/sieve/rules.py MAX_TEXT)


def _rules(ctx: CommandContext) -> SieveRules | None:
    scripts = ctx.services.sieve_scripts
    return SieveRules(scripts) if scripts is not None else None


async def answer(ctx: CommandContext, section: Element, out: Element) -> None:
    """Answer one Oof section (Get or Set) into ``out``."""
    rules = _rules(ctx)
    setting = section.find("Set")
    if setting is not None:
        out.add(NS, "Status", await _set(ctx, rules, setting))
        return
    asked = section.find("Get")
    if asked is None:
        out.add(NS, "Status", PROTOCOL_ERROR)
        return
    as_html = (asked.value("BodyType") or "Text").strip().lower() == "html"
    vacation = await rules.vacation(ctx.principal) if rules is not None else None
    out.add(NS, "Status", SUCCESS)
    got = out.add(NS, "Get")
    vac = vacation or Vacation()
    if not vac.enabled:
        got.add(NS, "OofState", 0)
    elif not vac.start and not vac.end:
        got.add(NS, "OofState", 1)
    else:
        got.add(NS, "OofState", 2)
        start, end = vac.window()
        if start is not None:
            got.add(NS, "StartTime", _time(start))
        if end is not None:
            got.add(NS, "EndTime", _time(end))
    reply = _body(vac.text, vac.html, as_html)
    for audience in AUDIENCES:
        message = got.add(NS, "OofMessage")
        message.add(NS, audience)
        message.add(NS, "Enabled", 1 if vac.enabled else 0)
        message.add(NS, "ReplyMessage", reply)
        message.add(NS, "BodyType", "HTML" if as_html else "Text")


async def _set(ctx: CommandContext, rules: SieveRules | None, setting: Element) -> int:
    if rules is None:
        return DENIED
    state_text = setting.value("OofState")
    if state_text is not None and state_text.strip() not in ("0", "1", "2"):
        return INVALID_ARGUMENTS
    current = await rules.vacation(ctx.principal)
    if current is None:
        log.info("eas: Oof Set for %s refused: another Sieve script is active",
                 ctx.principal.address)
        return DENIED
    vac = current
    messages = setting.findall("OofMessage")
    if messages:
        chosen = _chosen(messages)
        if chosen is None:
            vac = replace(vac, enabled=False)
        else:
            text, is_html = chosen
            if len(text) > MAX_REPLY:
                return INVALID_ARGUMENTS
            vac = replace(vac, text=text, html=is_html, enabled=True)
    state = state_text.strip() if state_text is not None else None
    if state == "0":
        vac = replace(vac, enabled=False)
    elif state == "1":
        vac = replace(vac, enabled=vac.enabled or not messages, start="", end="")
    elif state == "2":
        start, end = _parse(setting.value("StartTime")), _parse(setting.value("EndTime"))
        if start is None or end is None:
            return INVALID_ARGUMENTS
        if end <= start:
            return CONFLICTING_ARGUMENTS
        vac = replace(vac, enabled=vac.enabled or not messages, start=start, end=end)
    try:
        await rules.set_vacation(ctx.principal, vac, origin=_origin(ctx))
    except MailError as exc:
        if exc.kind is Kind.IN_USE:
            return DENIED
        if exc.kind is Kind.INVALID:
            return INVALID_ARGUMENTS
        raise
    return SUCCESS


def _chosen(messages: list[Element]) -> tuple[str, bool] | None:
    """(reply, is HTML) of the first enabled OofMessage, internal audience first."""
    def rank(message: Element) -> int:
        for n, audience in enumerate(AUDIENCES):
            if message.find(audience) is not None:
                return n
        return len(AUDIENCES)
    for message in sorted(messages, key=rank):
        if (message.value("Enabled") or "0").strip() != "1":
            continue
        body_type = (message.value("BodyType") or "Text").strip().lower()
        return (message.value("ReplyMessage") or "").replace("\r\n", "\n"), body_type == "html"
    return None


def _parse(value: str | None) -> str | None:
    """MS-ASDTYPE §2.3 dateTime ("2026-12-20T08:00:00.000Z") as the rules' instant."""
    found = TIME.match((value or "").strip())
    if found is None:
        return None
    try:
        datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    return found.group(1) + "Z"


def _time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _body(text: str, is_html: bool, as_html: bool) -> str:
    if is_html == as_html:
        return text
    if as_html:
        return "<html><body>" + html.escape(text).replace("\n", "<br>\n") + "</body></html>"
    plain = re.sub(r"(?i)<br\s*/?>|</p\s*>", "\n", text)
    return html.unescape(re.sub(r"<[^>]*>", "", plain)).strip()


def _origin(ctx: CommandContext) -> Origin:
    client = ctx.request.client
    return Origin("eas", client.host if client is not None else "")
