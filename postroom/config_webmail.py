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
    read_text_max: Annotated[int, _d(
        "Most characters of a plain-text body shown on the reading page; a longer one is cut "
        "there (with a note) and stays whole in the raw source and downloads."),
                             Meta(ge=1024, le=1 << 28)] = 2 << 20
    read_max_addresses: Annotated[int, _d(
        "Most addresses of one header field (To, Cc) listed on the reading page; the page "
        "says how many more there are."), Meta(ge=1, le=100_000)] = 200
    read_inline_max: Annotated[int, _d(
        "Most octets of inline (cid:) raster images embedded into one message's frame as "
        "data: URLs (the sandboxed frame has no cookies, so it cannot fetch them from us); "
        "images past it are not shown there and stay downloadable."),
                               Meta(ge=0, le=1 << 28)] = 10 << 20
    read_cache: Annotated[int, _d(
        "Sanitised HTML bodies kept in memory per process, so that the reading page and its "
        "frame sanitise a message once (0 = none)."), Meta(ge=0, le=10_000)] = 64

    # -- writing (web/webmail/compose.py) ---------------------------------------------------
    max_recipients: Annotated[int, _d(
        "Most recipients (To, Cc and Bcc together) of one message sent from webmail; more "
        "are refused with 409 before anything is sent (SMTP accepts 100 per transaction)."),
                              Meta(ge=1, le=10_000)] = 100
    max_text_size: Annotated[int, _d(
        "Longest text of a message being written, in characters; a longer one is refused "
        "(413 from the form, 409 from the service). The form is one request, so it must also "
        "fit web.max_body_size."), Meta(ge=1024, le=1 << 24)] = 256 * 1024
    completion_min_chars: Annotated[int, _d(
        "Characters typed before address completion suggests anything (shorter queries get "
        "an empty list, so the directory cannot be listed one letter at a time)."),
                                    Meta(ge=1, le=3)] = 2
    compose_sessions: Annotated[int, _d(
        "Messages one user may have open for writing at once (tabs, forgotten windows), "
        "each with its attachments staged on disk; opening another removes the least "
        "recently used."), Meta(ge=1, le=1000)] = 20

    # -- folders, sharing and settings (web/webmail/manage.py, settings.py) -----------------
    sharing_suggestions: Annotated[int, _d(
        "Most accounts, and most groups, of the user's own domain the sharing screen suggests "
        "when picking whom to share with (0 = none; any address can still be typed)."),
                                   Meta(ge=0, le=1000)] = 100

    # -- live updates (web/webmail/live.py) -------------------------------------------------
    live_coalesce: Annotated[float, _d(
        "Seconds a live-update stream waits at least between two \"mail\" events of one user, "
        "so a burst of changes (a client moving hundreds of messages) becomes one event per "
        "folder with the counts read when it is sent (0 = no wait)."), Meta(ge=0, le=10)] = 0.25
    live_retry: Annotated[float, _d(
        "Seconds a browser waits before reconnecting a live-update stream that broke (sent as "
        "the stream's \"retry\" field; the page backs off further when reconnecting fails)."),
                          Meta(ge=0.5, le=600)] = 3.0
    live_poll: Annotated[float, _d(
        "Seconds between two polls of a page whose live-update stream was refused (the "
        "process is at live_max_streams, or the user opened more than live_max_per_user); "
        "also the Retry-After of that refusal."), Meta(ge=5, le=3600)] = 60.0
