"""DKIM keys, the DNS records a domain should publish, and BATV keys
(services/admin/signing.py; docs/dkim.md and docs/dns.md describe the rules).

- ``/dkim``: every domain with its keys, a form to generate keys for a domain, and the BATV
  keys with their rotation.
- ``/dkim/{domain}``: the domain's keys with activate, retire and remove (after a
  confirmation page), a form to rotate, and the DNS records (``Admin.signing.dns``, the same
  advice as ``postroom dns``) as a table: each value is in a ``<code>`` element a person can
  select, and a copy button (static/ops.js; hidden without script) copies it.

Private keys are never shown here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import MailError, invalid
from postroom.services.dnsrecords import zone_lines
from postroom.web.forms import Form, back, read_form, status_of
from postroom.web.identity import WebUser, require_user
from postroom.web.pages.ops_common import Confirm, confirm_page, page, refused

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

ALGORITHMS = ("ed25519", "rsa")
KEY_ACTIONS = {"activate": "activated", "retire": "retired", "remove": "removed"}
MAX_SELECTOR = 63  # RFC 1035 §2.3.4: one label


def _domain(request: Request) -> str:
    value = str(request.path_params["domain"]).lower()
    if not value or len(value) > 253:
        raise HTTPException(404)
    return value


def _algorithms(form: Form) -> list[str] | None:
    chosen = form.all("algorithm")
    if any(a not in ALGORITHMS for a in chosen):
        raise invalid(f"algorithm: {' or '.join(ALGORITHMS)}")
    return chosen or None  # none ticked: the configured dkim.algorithms


def _selector(form: Form) -> str | None:
    value = form.get("selector")
    if len(value) > MAX_SELECTOR:
        raise invalid(f"a selector is one DNS label, at most {MAX_SELECTOR} characters")
    return value or None


def routes(services: WebServices, settings: WebSettings) -> list[BaseRoute]:
    signing = services.admin.signing
    domains = services.admin.domains
    hostname = settings.hostname

    async def overview(request: Request, user: WebUser, status: int = 200,
                       error: str = "") -> Response:
        context: dict[str, Any] = {"algorithms": ALGORITHMS, "domains": [], "keys": {},
                                   "batv": [], "error": error}
        try:
            names = [d.domain.name for d in await domains.list(user.actor)]
            keys = await signing.dkim_list(user.actor)
            context["batv"] = await signing.batv_keys(user.actor)
        except MailError as exc:
            return refused(request, "ops/dkim.html", context, exc)
        context["domains"] = names
        context["keys"] = {n: [k for k in keys if k.domain == n] for n in names}
        return page(request, "ops/dkim.html", context, status)

    async def listing(request: Request) -> Response:
        return await overview(request, require_user(request, "global"))

    async def generate(request: Request) -> Response:
        user = require_user(request, "global")
        form = await read_form(request)
        domain = form.get("domain")
        try:
            made = await signing.dkim_generate(user.actor, domain, _algorithms(form),
                                               _selector(form))
        except MailError as exc:
            return await overview(request, user, status_of(exc), exc.text)
        selectors = ", ".join(k.selector for k in made)
        return back(f"/dkim/{made[0].domain if made else domain}",
                    f"DKIM keys generated: {selectors}. Publish their records below.")

    async def batv_rotate(request: Request) -> Response:
        user = require_user(request, "global")
        form = await read_form(request)
        try:
            number = await signing.batv_rotate(user.actor, form.checked("drop_old"))
        except MailError as exc:
            return await overview(request, user, status_of(exc), exc.text)
        return back("/dkim", f"BATV key {number} now signs.")

    async def domain_page(request: Request, error: str = "", status: int = 200) -> Response:
        user = require_user(request, "global")
        domain = _domain(request)
        context: dict[str, Any] = {"domain": domain, "keys": [], "advice": None,
                                   "algorithms": ALGORITHMS, "zone": ""}
        try:
            context["keys"] = await signing.dkim_list(user.actor, domain)
            advice = context["advice"] = await signing.dns(user.actor, domain, hostname)
            context["zone"] = "\n".join(zone_lines(advice))
        except MailError as exc:
            return refused(request, "ops/dkim_domain.html", context, exc)
        return page(request, "ops/dkim_domain.html", {**context, "error": error}, status)

    async def show(request: Request) -> Response:
        return await domain_page(request)

    async def rotate(request: Request) -> Response:
        user = require_user(request, "global")
        domain = _domain(request)
        form = await read_form(request)
        try:
            delay_text = form.get("delay")
            if delay_text and (not delay_text.isdigit() or len(delay_text) > 9):
                raise invalid("delay: a whole number of seconds")
            made = await signing.dkim_rotate(user.actor, domain, _algorithms(form),
                                             int(delay_text) if delay_text else None,
                                             _selector(form))
        except MailError as exc:
            return await domain_page(request, exc.text, status_of(exc))
        return back(f"/dkim/{domain}", "New keys published: "
                    f"{', '.join(k.selector for k in made)}; they sign from their activation.")

    async def key_action(request: Request) -> Response:
        user = require_user(request, "global")
        domain = _domain(request)
        selector = str(request.path_params["selector"])
        action = str(request.path_params["action"])
        if action not in KEY_ACTIONS or not selector or len(selector) > MAX_SELECTOR:
            raise HTTPException(404)
        form = await read_form(request) if request.method == "POST" else Form([])
        if action == "remove" and form.get("confirm") != "yes":
            return confirm_page(request, Confirm(
                f"Remove DKIM key {selector}",
                f"The key {selector} of {domain} will be deleted; mail signed with it can no "
                "longer be verified once its DNS record is gone.",
                f"/dkim/{domain}/keys/{selector}/remove", f"/dkim/{domain}",
                f"Remove key {selector}"))
        if request.method != "POST":
            raise HTTPException(405)
        try:
            if action == "activate":
                await signing.dkim_activate(user.actor, domain, selector)
            elif action == "retire":
                await signing.dkim_retire(user.actor, domain, selector)
            else:
                await signing.dkim_remove(user.actor, domain, selector)
        except MailError as exc:
            return await domain_page(request, exc.text, status_of(exc))
        return back(f"/dkim/{domain}", f"DKIM key {selector} {KEY_ACTIONS[action]}.")

    return [Route("/dkim", listing, methods=["GET"]),
            Route("/dkim", generate, methods=["POST"]),
            Route("/dkim/batv", batv_rotate, methods=["POST"]),
            Route("/dkim/{domain}", show, methods=["GET"]),
            Route("/dkim/{domain}/rotate", rotate, methods=["POST"]),
            Route("/dkim/{domain}/keys/{selector}/{action}", key_action,
                  methods=["GET", "POST"])]
