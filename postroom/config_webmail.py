"""Configuration of webmail (``[web.webmail]``): its pages, uploads, images and live updates.

Kept apart from config_web.py so that webmail's keys and defaults sit together; docs/webmail.md
explains them. Every limit here is explicit, has a default a small company can live with, and
is enforced where the request enters (the upload endpoint, the list pages, the live stream).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta


def _d(text: str) -> Meta:
    return Meta(description=text)


class WebmailConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Webmail on the public web listeners (web.https, web.alt)."""

    enabled: Annotated[bool, _d(
        "Serve webmail on the public web listeners (443, and 3000 when web.alt is on).")] = True
    page_size: Annotated[int, _d(
        "Messages per page of a folder's list when the user picks none."),
                         Meta(ge=10, le=500)] = 50
    page_max: Annotated[int, _d(
        "Most messages one page of a folder's list may show."), Meta(ge=10, le=1000)] = 200
    search_max_results: Annotated[int, _d(
        "Most messages one webmail search returns (newest first); the page says when more "
        "matched."), Meta(ge=100, le=1_000_000)] = 10_000
    max_upload_size: Annotated[int, _d(
        "Largest attachment one upload may carry, in octets (streamed to disk; a larger one "
        "gets 413). The message as a whole must still fit limits.max_message_size."),
                               Meta(ge=1024, le=1 << 31)] = 25 << 20
    max_attachments: Annotated[int, _d(
        "Most attachments on one message being written."), Meta(ge=1, le=1000)] = 50
    upload_keep_seconds: Annotated[float, _d(
        "Seconds an uploaded attachment of a message never saved or sent is kept before "
        "it is removed."), Meta(ge=60, le=30 * 86400)] = 86400.0
    draft_autosave: Annotated[float, _d(
        "Seconds between automatic saves of a message being written to Drafts (0 = only "
        "when the user saves)."), Meta(ge=0, le=3600)] = 30.0
    max_html_size: Annotated[int, _d(
        "Largest HTML body shown as HTML, in octets; a larger one is shown as plain text."),
                             Meta(ge=4096, le=1 << 28)] = 8 << 20
    remote_images: Annotated[Literal["ask", "never"], _d(
        "Remote images in HTML mail: \"ask\" blocks them until the user allows them for the "
        "message or its sender; \"never\" blocks them always.")] = "ask"
    recent_recipients: Annotated[int, _d(
        "Recipients remembered per user for address completion."),
                                 Meta(ge=0, le=10_000)] = 200
    completion_results: Annotated[int, _d(
        "Most suggestions address completion returns."), Meta(ge=1, le=100)] = 10
    live_heartbeat: Annotated[float, _d(
        "Seconds between two keep-alive comments on an idle live-update stream (Server-Sent "
        "Events), so proxies do not close it."), Meta(ge=1, le=300)] = 20.0
    live_max_per_user: Annotated[int, _d(
        "Live-update streams one user may hold open at once (tabs, devices); the oldest is "
        "closed when another opens."), Meta(ge=1, le=100)] = 8
    live_max_streams: Annotated[int, _d(
        "Live-update streams the process holds at once; a new one past it gets 503 and the "
        "page falls back to reloading."), Meta(ge=1, le=1_000_000)] = 10_000
    signature_max: Annotated[int, _d(
        "Longest signature a user may set, in characters."), Meta(ge=0, le=65536)] = 4096

    # -- the message list (web/webmail/lists.py) -------------------------------------------
    thread_max: Annotated[int, _d(
        "Most messages (the newest of the folder or of the search) the conversation view "
        "threads (RFC 5256 REFERENCES); the page says when older ones were left out."),
                          Meta(ge=100, le=100_000)] = 5000
    action_max: Annotated[int, _d(
        "Most messages one action on the list (mark, move, delete, ...) may name; a larger "
        "request gets 413."), Meta(ge=10, le=10_000)] = 1000

    # -- reading (web/webmail/read.py) ------------------------------------------------------

    # -- writing (web/webmail/compose.py) ---------------------------------------------------

    # -- folders, sharing and settings (web/webmail/manage.py, settings.py) -----------------

    # -- live updates (web/webmail/live.py) -------------------------------------------------
