"""The user's webmail settings: signature, density, time zone, language, messages per page,
conversation view and rich text by default, the default identity, the senders whose remote
images are shown, links to the account pages (/me: password, two-factor, app passwords,
sessions), and MultiPOP.

Every value is validated by ``wm.prefs`` (services/webmail/prefs.py), which refuses the whole
change with the first wrong value; the page draws the form again with that message next to
its field (422, the values as typed kept). The signature field may be longer than other form
fields (``web.form_max_field``): up to twice ``web.webmail.signature_max`` is read, so that a
signature a little too long gets the 422 that says by how much rather than a bare 413.

MultiPOP (``/webmail/settings/multipop``) is WebAdmin's /me/multipop (web/pages/dir_self.py)
drawn in webmail's frame: the same handlers call ``services.admin.multipop`` with the user's
own actor, which checks that the account is the user's own and audits the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import MailError, invalid
from postroom.services.webmail import Webmail
from postroom.services.webmail.prefs import DENSITIES, LANGUAGES, Prefs, zones
from postroom.web.forms import (
    Form,
    FormLimits,
    back,
    checked,
    limits_of,
    read_form,
    status_of,
    text,
)
from postroom.web.pages import dir_self
from postroom.web.pages.dir_common import field_for
from postroom.web.webmail.shell import page, user_of

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

SETTINGS = "/webmail/settings"
MULTIPOP = SETTINGS + "/multipop"
TEXT_FIELDS = ("signature", "density", "timezone", "language", "page_size", "identity")
# which field a refusal of wm.prefs is about: a word of its message, then the field
ERROR_FIELDS = ("signature", "density", "time zone:timezone", "language",
                "messages per page:page_size", "identity")


def _values(prefs: Prefs) -> dict[str, str]:
    return {"signature": prefs.signature, "density": prefs.density,
            "timezone": prefs.timezone, "language": prefs.language,
            "page_size": str(prefs.page_size or ""), "identity": prefs.identity,
            "threads": "on" if prefs.threads else "", "rich_text": "on" if prefs.rich_text
            else ""}


def _page_size(raw: str) -> int:
    if not raw:
        return 0
    if not raw.isdigit() or len(raw) > 6:
        raise invalid("messages per page: give a whole number")
    return int(raw)


def routes(wm: Webmail, services: WebServices, web: WebSettings) -> list[BaseRoute]:
    prefs = wm.prefs

    async def settings_page(request: Request, values: dict[str, str] | None = None,
                            exc: MailError | None = None) -> Response:
        user = user_of(request)
        principal = user.actor.principal
        current = await prefs.get(principal)
        context: dict[str, Any] = {
            "values": values or _values(current), "errors": {}, "zones": zones(),
            "densities": DENSITIES, "languages": LANGUAGES,
            "identities": await prefs.identity_choices(principal),
            "image_senders": await prefs.image_senders(principal),
            "default_page_size": prefs.page_size(Prefs()),
            "multipop": await services.admin.multipop.list(user.actor, user.address)
            if user.address else []}
        status = 200
        if exc is not None:
            context["errors"] = {field_for(exc, ERROR_FIELDS, "signature"): exc.text}
            status = status_of(exc)
        return await page(request, wm, "webmail/settings.html", context, status=status)

    async def index(request: Request) -> Response:
        return await settings_page(request)

    async def save(request: Request) -> Response:
        user = user_of(request)
        base = limits_of(request)
        form: Form = await read_form(request, FormLimits(
            max(base.max_field, 2 * wm.config.signature_max), base.max_fields))
        values = {k: form.raw(k) if k == "signature" else text(form, k) for k in TEXT_FIELDS}
        values |= {"threads": "on" if checked(form, "threads") else "",
                   "rich_text": "on" if checked(form, "rich_text") else ""}
        try:
            await prefs.update(
                user.actor.principal, signature=values["signature"],
                density=values["density"], timezone=values["timezone"],
                language=values["language"], page_size=_page_size(values["page_size"]),
                identity=values["identity"], threads=bool(values["threads"]),
                rich_text=bool(values["rich_text"]))
        except MailError as exc:
            return await settings_page(request, values, exc)
        return back(SETTINGS, "Settings saved.")

    async def forget_images(request: Request) -> Response:
        """Stop showing the remote images of one sender without asking."""
        user = user_of(request)
        form = await read_form(request)
        address = text(form, "address")
        if not address:
            raise invalid("which sender? (address)")
        await prefs.forget_image_sender(user.actor.principal, address)
        return back(SETTINGS, f"Images from {address} are asked for again.")

    # -- MultiPOP: WebAdmin's /me/multipop handlers in webmail's frame ------------------------
    def whose(request: Request) -> dir_self.Whose:
        user = user_of(request)
        return dir_self.Whose(user, user.address, MULTIPOP, True)

    async def draw(request: Request, template: str, context: Mapping[str, Any],
                   status: int) -> Response:
        return await page(request, wm, template, context, status=status)

    face = dir_self.Face(whose, draw, "webmail/settings_multipop.html",
                         "webmail/settings_multipop_edit.html")
    return [Route(SETTINGS, index, methods=["GET"]),
            Route(SETTINGS, save, methods=["POST"]),
            Route(SETTINGS + "/images/forget", forget_images, methods=["POST"]),
            *dir_self.face_routes(services.admin, face, MULTIPOP)]
