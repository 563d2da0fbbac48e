"""What every WebAdmin page and the JSON API share: how a refusal reads as an HTTP status,
how a posted form is read (with its limits), how a time is shown, how a POST redirects back.

Written once so that the same refusal gets the same status on a directory page, an
operations page and under /api, and every form meets the same limits (web.form_max_field,
web.form_max_fields in config_web.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import RedirectResponse

from postroom.core.errors import Kind, MailError
from postroom.web.flash import redirect

# How a service's refusal (core/errors.py) reads as an HTTP status (RFC 9110 §15.5/§15.6),
# for pages and the API alike. Every kind has its entry (tests/unit/test_web_forms.py).
STATUS: dict[Kind, int] = {
    Kind.NOT_FOUND: 404,  # also another domain's object for a domain administrator
    Kind.NO_PERM: 403,
    Kind.AUTH_FAILED: 403,  # a wrong current password: the session is fine, the act is not
    Kind.POLICY: 403,
    Kind.AUTH_REQUIRED: 401,
    # the request is well-formed but conflicts with what exists now: another object has the
    # name, it is in use, the account is disabled, or a count/size limit or the quota is
    # reached (removing something, or waiting, lets the same request succeed) (§15.5.10)
    Kind.EXISTS: 409,
    Kind.IN_USE: 409,
    Kind.DISABLED: 409,
    Kind.LIMIT: 409,
    Kind.OVER_QUOTA: 409,
    # the content is understood but wrong: the user can correct the form (§15.5.21)
    Kind.INVALID: 422,
    Kind.LOOP: 422,
    Kind.CONTENT: 422,
    Kind.SPAM: 422,
    Kind.VIRUS: 422,
    # try again later (§15.6.4)
    Kind.TEMPORARY: 503,
    Kind.UNAVAILABLE: 503,
    Kind.DEFERRED: 503,
}


def status_of(exc: MailError) -> int:
    """The HTTP status of a service's refusal."""
    return STATUS.get(exc.kind, 422)


URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


@dataclass(frozen=True, slots=True)
class FormLimits:
    """The limits every posted form meets (web.form_max_field, web.form_max_fields). The
    body as a whole is already bounded by web/guard.py (web.max_body_size)."""

    max_field: int = 4096  # characters of one text field (a name, an address, a password)
    max_fields: int = 200  # fields of one form; a page's form has a handful


def limits_of(request: Request) -> FormLimits:
    """The application's form limits (set by web/app.py), else the defaults."""
    found = getattr(request.app.state, "form_limits", None)
    return found if isinstance(found, FormLimits) else FormLimits()


class Form:
    """A posted form's text fields, in order (WHATWG URL §5.1; RFC 7578 for multipart)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def raw(self, name: str) -> str:
        """The field as sent (a password keeps its spaces), "" when absent."""
        for key, value in self.pairs:
            if key == name:
                return value
        return ""

    def get(self, name: str, default: str = "") -> str:
        """The field without surrounding white space, ``default`` when absent."""
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


async def read_form(request: Request, limits: FormLimits | None = None) -> Form:
    """The posted text fields, URL-encoded or multipart. Another media type is 415; an
    undecodable form is 400; a field over ``max_field`` characters or more than
    ``max_fields`` fields is 413 (RFC 9110 §15.5.14). Files are not read here."""
    limits = limits or limits_of(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == URLENCODED:
        body = await request.body()
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                              max_num_fields=limits.max_fields)
        except UnicodeDecodeError:
            raise HTTPException(400, "the form could not be read") from None
        except ValueError:
            raise HTTPException(413, f"a form has at most {limits.max_fields} fields") from None
    elif ctype == MULTIPART:
        try:
            data = await request.form(max_fields=limits.max_fields, max_files=limits.max_fields)
        except (HTTPException, MultiPartException) as exc:  # Starlette turns one into other
            if "many" in str(getattr(exc, "detail", exc)).lower():
                raise HTTPException(413, f"a form has at most {limits.max_fields} fields"
                                    ) from None
            raise HTTPException(400, "the form could not be read") from None
        pairs = [(k, v) for k, v in data.multi_items() if not isinstance(v, UploadFile)]
    else:
        raise HTTPException(415, f"send the form as {URLENCODED} or {MULTIPART}")
    if any(len(v) > limits.max_field for _, v in pairs):
        raise HTTPException(413, f"a form field is longer than {limits.max_field} characters")
    return Form(pairs)


def text(form: Form, name: str) -> str:
    """A text field without surrounding white space ("" when absent)."""
    return form.get(name)


def checked(form: Form, name: str) -> bool:
    """A checkbox: sent and on."""
    return form.checked(name)


def when(ts: int | float | None) -> str:
    """A Unix time as the pages show it, like the CLI (UTC, to the second); "never" for
    none."""
    if not ts:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def back(path: str, flash: str = "", **params: str) -> RedirectResponse:
    """303 (RFC 9110 §15.4.4) to ``path``, a page of ours, with a short message to show on
    it (in a signed cookie, web/flash.py: never from the URL): post/redirect/get. Empty
    ``params`` are left out."""
    query = {k: v for k, v in params.items() if v}
    joint = "&" if "?" in path else "?"
    return redirect(path + (f"{joint}{urlencode(query)}" if query else ""), flash)
