"""The ActiveSync application: one ASGI callable for /Microsoft-Server-ActiveSync.

A request (MS-ASHTTP §2.2.1) is answered in this order, each step able to refuse it:

1. OPTIONS: the versions and commands offered (§2.2.4), no authentication needed;
2. only POST; the request line (plain or base64 query form) must name a known command and a
   device (400 otherwise, §3.2.5.1);
3. HTTP Basic through web/basicauth.py, exactly as IMAP LOGIN (throttle, app passwords,
   passwords only inside TLS); 401 with a challenge;
4. the protocol version (MS-ASProtocolVersion, or the base64 form's byte) must be offered;
5. the device registry admits the device (services/eas/devices.py): blocked, not provisioned,
   stale policy key, a pending remote wipe, too many devices → the common status inside the
   command's root element (14.0+) or the HTTP status of 12.x (403, 449);
6. the body, bounded (``web.eas.max_request_size``; a 12.x SendMail's MIME by the message
   limit), decoded from WBXML with a depth bound: malformed → the common status 102/103;
7. the command's module (common.MODULES) answers an Element (encoded to WBXML here), a
   ready Response, or nothing (an empty 200); a command that waits (Ping) answers a
   ``LongPoll`` (web/eas/longpoll.py) from its ``begin``, which is awaited here only after
   ``answer`` and ``dispatch`` have returned, so that the request's body, tree and context
   are not kept for the whole heartbeat on every waiting phone.

Nothing a device sends makes a 500: a refusal a command did not answer itself becomes
Status 110/111 in the command's root element, logged with the device.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from postroom.core.errors import Kind, MailError
from postroom.protocols.eas import request as request_line
from postroom.protocols.eas import wbxml
from postroom.protocols.eas.element import Element
from postroom.services.eas import Eas
from postroom.services.eas.model import Verdict
from postroom.web.basicauth import Refusal, authenticate
from postroom.web.context import WebServices, WebSettings
from postroom.web.eas.common import MIME_BODIES, MODULES, CommandContext, Common, status_element
from postroom.web.eas.longpoll import LongPoll
from postroom.web.guard import App, Receive, Scope, Send

log = logging.getLogger("postroom.eas")

WBXML_TYPE = "application/vnd.ms-sync.wbxml"
_INLINE_DECODE = 64 << 10  # bodies larger than this are decoded in a worker thread
REALM = 'Basic realm="Postroom ActiveSync", charset="UTF-8"'
_COMMANDS_OFFERED = ("Sync", "SendMail", "SmartForward", "SmartReply", "GetAttachment",
                     "FolderSync", "FolderCreate", "FolderDelete", "FolderUpdate",
                     "MoveItems", "GetItemEstimate", "MeetingResponse", "Search", "Settings",
                     "Ping", "ItemOperations", "Provision", "ResolveRecipients")

# The common statuses of the registry's verdicts (MS-ASPROV §3.2.5.1, MS-ASCMD §2.2.2) and
# the HTTP statuses 12.x devices understand instead (MS-ASHTTP §3.2.5.1)
_VERDICT_STATUS = {
    Verdict.BLOCKED: (Common.DEVICE_IS_BLOCKED_FOR_THIS_USER, 403),
    Verdict.NEEDS_PROVISIONING: (Common.DEVICE_NOT_PROVISIONED, 449),
    Verdict.POLICY_REFRESH: (Common.POLICY_REFRESH, 449),
    Verdict.INVALID_POLICY_KEY: (Common.INVALID_POLICY_KEY, 449),
    Verdict.WIPE: (Common.REMOTE_WIPE_REQUESTED, 449),
    Verdict.TOO_MANY_DEVICES: (Common.MAXIMUM_DEVICES_REACHED, 403),
}


class EasApp:
    def __init__(self, services: WebServices, settings: WebSettings) -> None:
        assert services.eas is not None
        self.eas: Eas = services.eas
        self.services = services
        self.settings = settings

    @property
    def versions(self) -> list[str]:
        return list(self.eas.config.versions)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        try:
            # the request object is made in the call: this frame keeps nothing of it while a
            # long poll waits
            answer = await self.answer(Request(scope, receive))
        except ClientDisconnect:
            return
        response = await _long_poll(answer) if isinstance(answer, LongPoll) else answer
        response.headers["MS-Server-ActiveSync"] = self.versions[-1]
        response.headers["Server-Timing"] = \
            f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        await response(scope, receive, send)

    def _options(self) -> Response:
        """MS-ASHTTP §2.2.4: what this server speaks."""
        return Response(status_code=200, headers={
            "Allow": "OPTIONS,POST", "Public": "OPTIONS,POST",
            "MS-ASProtocolVersions": ",".join(self.versions),
            "MS-ASProtocolCommands": ",".join(_COMMANDS_OFFERED),
            "Content-Length": "0"})

    async def answer(self, request: Request) -> Response | LongPoll:
        method = request.method.upper()
        if method == "OPTIONS":
            auth = await authenticate(request, self.services.auth, self.settings, "eas")
            # iOS sends OPTIONS with credentials and treats 401 as "wrong password"; without
            # credentials it is the anonymous probe and is answered too
            if isinstance(auth, Refusal) and request.headers.get("authorization"):
                return _refused(auth)
            return self._options()
        if method != "POST":
            return _plain(405, "ActiveSync accepts OPTIONS and POST", {"Allow": "OPTIONS,POST"})
        try:
            line = request_line.parse(request.url.query)
        except request_line.RequestLineError as exc:
            return _plain(400, str(exc))
        auth = await authenticate(request, self.services.auth, self.settings, "eas")
        if isinstance(auth, Refusal):
            return _refused(auth)
        principal = auth
        version = line.version or request.headers.get("ms-asprotocolversion", "")
        if version not in self.versions:
            return _plain(400, f"protocol version {version or '(none)'} is not offered; "
                          f"this server speaks {', '.join(self.versions)}")
        policy_key = line.policy_key or request.headers.get("x-ms-policykey")
        admission = await self.eas.devices.admit(
            principal, line.device_id, line.device_type, line.command, version, policy_key,
            request.headers.get("user-agent", ""))
        modern = _number(version) >= (14, 0)
        if admission.verdict is not Verdict.OK or admission.device is None:
            common, http = _VERDICT_STATUS.get(admission.verdict,
                                               (Common.SERVER_ERROR, 500))
            log.info("eas: %s refused for %s device %s: %s", line.command, principal.address,
                     line.device_id, admission.verdict.value)
            if modern or admission.verdict is Verdict.BLOCKED:
                return _wbxml(status_element(line.command, int(common)))
            return Response(status_code=http)
        # a message to send (raw MIME for 12.x, OPAQUE inside WBXML for 14+) may be as large
        # as the server accepts by SMTP, plus room for the WBXML around it
        limit = max(self.eas.config.max_request_size, self.eas.max_message_size + (64 << 10)) \
            if line.command in MIME_BODIES else self.eas.config.max_request_size
        try:
            raw = await _read(request, limit)
        except _TooLarge:
            return _wbxml(status_element(line.command, int(Common.INVALID_CONTENT))) \
                if modern else _plain(413, f"the request is larger than {limit} octets")
        body: Element | None = None
        if raw and (request.headers.get("content-type", "").startswith(WBXML_TYPE)
                    or raw[:1] == b"\x03"):
            cfg = self.eas.config
            try:
                if len(raw) > _INLINE_DECODE:
                    # a large body is decoded in a worker thread: the event loop (every other
                    # connection of the server) never waits for one request's parsing
                    body = await asyncio.to_thread(
                        wbxml.decode, raw, max_depth=cfg.max_wbxml_depth,
                        max_elements=cfg.max_wbxml_elements)
                else:
                    body = wbxml.decode(raw, max_depth=cfg.max_wbxml_depth,
                                        max_elements=cfg.max_wbxml_elements)
            except wbxml.WbxmlError as exc:
                log.info("eas: %s from %s device %s: bad WBXML: %s", line.command,
                         principal.address, line.device_id, exc)
                return _wbxml(status_element(line.command, int(Common.INVALID_WBXML))) \
                    if modern else _plain(400, "malformed WBXML")
        ctx = CommandContext(request, line, version, principal, admission.device, self.eas,
                             self.services, self.settings, raw)
        return await self.dispatch(ctx, body)

    async def dispatch(self, ctx: CommandContext, body: Element | None,
                       ) -> Response | LongPoll:
        module = MODULES.get(ctx.command)
        handle: Any = None
        if module is not None:
            try:
                mod = importlib.import_module(f"postroom.web.eas.{module}")
            except ImportError:
                mod = None
            # a command that may wait offers ``begin`` (its answer may be a LongPoll)
            handle = getattr(mod, "begin", None) or getattr(mod, "handle", None)
        if handle is None:
            return _wbxml(status_element(ctx.command, int(Common.COMMAND_NOT_SUPPORTED))) \
                if ctx.at_least("14.0") else _plain(501, f"{ctx.command} is not offered")
        try:
            result = await handle(ctx, body)
            if isinstance(result, Element):
                # encoded here, inside the guard: a command that built an element its code
                # page lacks is a server error (Status 110), never an HTTP 500
                return _wbxml(result)
        except Exception as exc:
            return _failure(exc, ctx.command, ctx.principal.address or "",
                            ctx.device.device_id)
        if isinstance(result, LongPoll):
            result.who = (ctx.command, ctx.principal.address or "", ctx.device.device_id)
            return result
        if isinstance(result, Response):
            return result
        return Response(status_code=200, headers={"Content-Length": "0"})  # None: no body


async def _long_poll(poll: LongPoll) -> Response:
    """Wait for a command's long poll (its frames are gone) and answer as ``dispatch``
    would: its element in WBXML, or a failure's status, never a 500."""
    try:
        return _wbxml(await poll.run())
    except Exception as exc:
        return _failure(exc, *poll.who)
    finally:
        poll.close()


def _failure(exc: Exception, command: str, address: str, device_id: str) -> Response:
    """A command that failed: a refusal's common status (a temporary one asks the device to
    retry later), anything else a server error (Status 110), logged with the device."""
    if isinstance(exc, MailError):
        common = Common.SERVER_ERROR_RETRY_LATER if exc.kind in (
            Kind.TEMPORARY, Kind.UNAVAILABLE) else Common.SERVER_ERROR
        if exc.kind is Kind.OVER_QUOTA:
            common = Common.MAILBOX_QUOTA_EXCEEDED
        log.warning("eas: %s for %s device %s refused: %s", command, address, device_id,
                    exc.text)
        return _wbxml(status_element(command, int(common)))
    if isinstance(exc, NotImplementedError):
        log.warning("eas: %s is not implemented yet", command, exc_info=exc)
        return _wbxml(status_element(command, int(Common.COMMAND_NOT_SUPPORTED)))
    # the promise is "never a 500": log it with the device, answer a server error
    log.error("eas: %s for %s device %s failed", command, address, device_id, exc_info=exc)
    return _wbxml(status_element(command, int(Common.SERVER_ERROR)))


class _TooLarge(Exception):
    pass


async def _read(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() \
            and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _number(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (0,)


def _wbxml(root: Element) -> Response:
    return Response(wbxml.encode(root), status_code=200, media_type=WBXML_TYPE)


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(text + "\n", status_code=status, media_type="text/plain",
                    headers=headers)


def _refused(refusal: Refusal) -> Response:
    return _plain(refusal.status, refusal.text,
                  {"WWW-Authenticate": REALM} if refusal.challenge else None)


def build(services: WebServices, settings: WebSettings) -> App:
    return EasApp(services, settings)
