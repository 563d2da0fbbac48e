"""What the operations pages share: reading a posted form, answering a service's refusal,
redirect-after-post with a message, and the page settings.

Every operations page follows the same pattern: ``require_user`` (the role only chooses what
to show; the services check again), call one ``services.admin`` method with ``user.actor``,
then either redirect (303, RFC 9110 §15.4.4) back to a page with a short message in
``?flash=`` (shown in a ``role="status"`` paragraph by base.html), or render the form again
with the service's message in a ``role="alert"`` paragraph and a 4xx status, so a screen
reader announces what went wrong and the values typed are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from postroom.config_web import WebOperationsConfig
from postroom.core.errors import Kind, MailError
from postroom.web.flash import redirect
from postroom.web.templating import render

if TYPE_CHECKING:
    from postroom.web.context import WebSettings

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 200  # a form of these pages has a handful of fields; more is not a browser

# How a service's refusal is answered on a page (the kinds a page can meet)
STATUS = {Kind.NOT_FOUND: 404, Kind.NO_PERM: 403, Kind.EXISTS: 409, Kind.IN_USE: 409,
          Kind.INVALID: 400, Kind.LIMIT: 400, Kind.TEMPORARY: 503, Kind.UNAVAILABLE: 503}


def status_of(exc: MailError) -> int:
    return STATUS.get(exc.kind, 400)


def ops_config(settings: WebSettings) -> WebOperationsConfig:
    return settings.operations or WebOperationsConfig()


class Form:
    """A posted ``application/x-www-form-urlencoded`` form (WHATWG URL §5.1)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.pairs:
            if key == name:
                return value.strip()
        return default

    def all(self, name: str) -> list[str]:
        return [v.strip() for k, v in self.pairs if k == name and v.strip()]

    def checked(self, name: str) -> bool:
        return self.get(name) in ("on", "yes", "true", "1")

    def values(self) -> dict[str, str]:
        return {k: v for k, v in self.pairs}


async def read_form(request: Request) -> Form:
    """The posted fields; anything but a URL-encoded form, or an undecodable one, is 400 (the
    body's size is already bounded by web/guard.py)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != FORM_TYPE:
        raise HTTPException(415, f"send the form as {FORM_TYPE}")
    body = await request.body()
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form could not be read") from None
    return Form(pairs)


def done(path: str, message: str) -> RedirectResponse:
    """Redirect after a successful POST, with the message to show."""
    return redirect(path, message)


def page(request: Request, template: str, context: Mapping[str, Any] | None = None,
         status: int = 200) -> Response:
    """``render`` with the formatting helpers every operations template uses."""
    return render(request, template, {"when": when, "octets": octets, "error": "",
                                      **(context or {})}, status=status)


def refused(request: Request, template: str, context: Mapping[str, Any],
            exc: MailError) -> Response:
    """The page again with the service's message as an alert, and the matching status."""
    return page(request, template, {**context, "error": exc.text}, status=status_of(exc))


def when(ts: int | float | None) -> str:
    """A Unix time as the CLI shows it (UTC, to the second), or a dash."""
    if not ts:
        return "–"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def octets(n: int) -> str:
    """A size for people: 1.5 MiB, 12 KiB, 800 B."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@dataclass(frozen=True, slots=True)
class Confirm:
    """A confirmation page for a destructive action: what will happen, where to post."""

    title: str
    question: str
    action: str  # the URL the confirmed form posts to
    back: str  # where "cancel" goes
    button: str


def confirm_page(request: Request, confirm: Confirm) -> Response:
    return page(request, "ops/confirm.html", {"confirm": confirm})
