"""What every directory page shares: the logged-in administrator, forms, errors, redirects.

Pages never decide who may do what: they call ``Admin`` with ``user.actor`` and translate the
service's ``MailError`` (docs/web.md "WebAdmin pages"):

- NOT_FOUND → 404 (also another domain's object for a domain administrator: the services
  answer NOT_FOUND for it exactly as for a missing one), NO_PERM → 403;
- in a form, any refusal draws the form again with the service's message next to the field it
  is about and announced (``role="alert"``), with the status of the one table every page and
  the API use (web/forms.py ``STATUS``: 422 for invalid input, 409 for a conflict — exists, in
  use, over a limit — and 404/403 as above);
- success answers 303 to a page that shows what changed (post/redirect/get), with a short
  flash message in a signed cookie (web/flash.py; never in the URL).

The role check here (``require_user``) only picks who gets a page at all (a plain user gets
404 for every administrator page); the services check again on every call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from postroom.core.errors import MailError
from postroom.directory.quota import format_size
from postroom.web.forms import status_of, when
from postroom.web.identity import Role, WebUser, require_user
from postroom.web.templating import render

T = TypeVar("T")
ADMINS: tuple[Role, ...] = ("global", "domain")
Handler = Callable[[Request], Awaitable[Response]]

HELPERS: dict[str, Any] = {"size": format_size, "when": when}


def view(request: Request, template: str, context: Mapping[str, Any] | None = None,
         status: int = 200) -> Response:
    """``render`` with the helpers directory templates use and no form errors."""
    return render(request, template, {**HELPERS, "errors": {}, **(context or {})}, status)


def admin(request: Request) -> WebUser:
    """A global or domain administrator, else 404 (or the login page)."""
    return require_user(request, *ADMINS)


def global_admin(request: Request) -> WebUser:
    return require_user(request, "global")


def refusal(exc: MailError) -> HTTPException:
    """A refusal outside a form: the page answers with the status and the message."""
    return HTTPException(status_of(exc), exc.text)


def pages(fn: Handler) -> Handler:
    """Wrap a handler so that a service refusal becomes its status page, never a 500."""
    async def handler(request: Request) -> Response:
        try:
            return await fn(request)
        except MailError as exc:
            return error_page(request, exc)
    handler.__name__ = fn.__name__
    handler.__doc__ = fn.__doc__
    return handler


def error_page(request: Request, exc: MailError) -> Response:
    status = status_of(exc)
    titles = {404: "Not found", 403: "Not allowed"}
    return view(request, "admin/error.html",
                  {"title": titles.get(status, "Not done"), "message": exc.text}, status)


class FieldError(MailError):
    """A service refusal known to be about one form field (the page parsed that field)."""

    def __init__(self, field: str, exc: MailError) -> None:
        super().__init__(exc.kind, exc.text)
        self.field = field


def on_field(field: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, with a refusal tied to ``field``."""
    try:
        return fn(*args)
    except MailError as exc:
        raise FieldError(field, exc) from None


def field_for(exc: MailError, fields: Iterable[str], default: str) -> str:
    """Which form field a service message is about: the field a ``FieldError`` names, else
    the first of ``fields`` whose name (``word:field`` maps a word to a field of another
    name) appears in the message, else ``default``."""
    if isinstance(exc, FieldError):
        return exc.field
    words = exc.text.lower()
    for item in fields:
        probe, _, name = item.partition(":")
        if probe.replace("_", " ") in words:
            return name or probe
    return default


def form_again(request: Request, template: str, context: Mapping[str, Any], exc: MailError,
               fields: Iterable[str], default: str) -> Response:
    """The form drawn again with the service's message next to the field it is about."""
    errors = {field_for(exc, fields, default): exc.text}
    return view(request, template, {**context, "errors": errors}, status_of(exc))


def path_param(request: Request, name: str) -> str:
    return str(request.path_params[name])
