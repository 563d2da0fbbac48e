"""What the operations pages share: answering a service's refusal, confirmation pages and
the page settings (the form reader, the status table and the redirect are web/forms.py's).

Every operations page follows the same pattern: ``require_user`` (the role only chooses what
to show; the services check again), call one ``services.admin`` method with ``user.actor``,
then either redirect (303, RFC 9110 §15.4.4) back to a page with a short message (a signed
cookie, web/flash.py; shown in a ``role="status"`` paragraph by base.html), or render the form again
with the service's message in a ``role="alert"`` paragraph and a 4xx status, so a screen
reader announces what went wrong and the values typed are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from postroom.config_web import WebOperationsConfig
from postroom.core.errors import MailError
from postroom.directory.quota import format_size
from postroom.web.forms import status_of, when
from postroom.web.templating import render

if TYPE_CHECKING:
    from postroom.web.context import WebSettings


def ops_config(settings: WebSettings) -> WebOperationsConfig:
    return settings.operations or WebOperationsConfig()


def page(request: Request, template: str, context: Mapping[str, Any] | None = None,
         status: int = 200) -> Response:
    """``render`` with the formatting helpers every operations template uses."""
    return render(request, template, {"when": when, "size": format_size, "error": "",
                                      **(context or {})}, status=status)


def refused(request: Request, template: str, context: Mapping[str, Any],
            exc: MailError) -> Response:
    """The page again with the service's message as an alert, and the matching status."""
    return page(request, template, {**context, "error": exc.text}, status=status_of(exc))


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
