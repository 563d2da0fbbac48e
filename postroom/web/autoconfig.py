"""Client autoconfiguration, rendered: Thunderbird's config-v1.1 and Outlook's Autodiscover POX.

The settings come from services/clientconfig.py; this module only turns them into the two XML
formats clients fetch:

- Thunderbird (its "Autoconfiguration" wiki page, file format config-v1.1): GET
  ``/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=ADDRESS`` on the domain's web
  server, or ``/mail/config-v1.1.xml`` on ``autoconfig.<domain>``, plain HTTP included;
- Outlook (MS-OXDSCLI §2.2.4, the POX Autodiscover request and response): POST of an
  ``<Autodiscover><Request><EMailAddress>`` document to ``/autodiscover/autodiscover.xml``
  (and the capitalised spellings clients send), answered with the ``outlook/responseschema/
  2006a`` response listing IMAP and SMTP.

A domain we do not host answers 404, whichever format was asked; so does a request we could
only answer with a document the format forbids (no TLS listener to offer: see
``thunderbird_usable``). Both outputs are checked in the tests against XML Schemas written
from the published formats (tests/support/schemas/). A request document with a
DOCTYPE is refused before parsing: no entity expansion reaches the XML parser.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postroom.services.clientconfig import ClientConfig, ClientSettings, Endpoint
from postroom.web.problems import error_response

XML = "application/xml; charset=utf-8"
AD_REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
AD_RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
AD_OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
# Exchange ActiveSync's Autodiscover (MS-ASCMD §2.2.1.1 / MS-OXDSCLI): phones ask for this
AD_MOBILESYNC_NS = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"

# Thunderbird's socketType values for our TLS modes
_SOCKET = {"implicit": "SSL", "starttls": "STARTTLS"}


def thunderbird_xml(s: ClientSettings) -> bytes:
    """config-v1.1: one emailProvider for the domain; one incomingServer per IMAP/POP3
    endpoint and one outgoingServer per submission endpoint, best first (a client takes the
    first that works)."""
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=s.domain)
    ET.SubElement(provider, "domain").text = s.domain
    ET.SubElement(provider, "displayName").text = f"{s.domain} mail"
    ET.SubElement(provider, "displayShortName").text = s.domain
    incoming = [*s.of("imap"), *s.of("pop3")]
    for e in incoming:
        _server(provider, "incomingServer", "pop3" if e.kind == "pop3" else "imap", e, s)
    for e in s.of("smtp"):
        _server(provider, "outgoingServer", "smtp", e, s)
    return _document(root)


def thunderbird_usable(s: ClientSettings) -> bool:
    """config-v1.1 needs an incoming and an outgoing server (the format requires both, and
    Thunderbird rejects a file without either). Without TLS listeners for one side there is
    nothing true to say: 404, and the client goes on to its other ways of guessing."""
    return bool(s.of("imap") or s.of("pop3")) and bool(s.of("smtp"))


def _server(parent: ET.Element, tag: str, kind: str, e: Endpoint, s: ClientSettings) -> None:
    """The children in the order of the format's documented example (hostname, port,
    socketType, username, authentication): Thunderbird reads them by name, stricter readers
    of the format by position (tests/support/schemas/thunderbird-config-v1.1.xsd)."""
    node = ET.SubElement(parent, tag, type=kind)
    ET.SubElement(node, "hostname").text = s.hostname
    ET.SubElement(node, "port").text = str(e.port)
    ET.SubElement(node, "socketType").text = _SOCKET[e.security]
    ET.SubElement(node, "username").text = s.username
    # PLAIN/LOGIN (or SCRAM), offered inside TLS only; "password-encrypted" would mean
    # CRAM-MD5 to Thunderbird, which we do not offer
    ET.SubElement(node, "authentication").text = "password-cleartext"


def autodiscover_xml(s: ClientSettings, address: str) -> bytes:
    """The POX response: Account/AccountType email, Action settings, a Protocol per IMAP and
    SMTP endpoint (the best of each first). ``SSL on`` for implicit TLS; STARTTLS endpoints
    say ``Encryption TLS`` (Outlook's element for it)."""
    root = ET.Element("Autodiscover", xmlns=AD_RESPONSE_NS)
    response = ET.SubElement(root, "Response", xmlns=AD_OUTLOOK_NS)
    user = ET.SubElement(response, "User")
    ET.SubElement(user, "AutoDiscoverSMTPAddress").text = address
    account = ET.SubElement(response, "Account")
    ET.SubElement(account, "AccountType").text = "email"
    ET.SubElement(account, "Action").text = "settings"
    for kind, name in (("imap", "IMAP"), ("pop3", "POP3"), ("smtp", "SMTP")):
        for e in s.of(kind):  # type: ignore[arg-type]
            proto = ET.SubElement(account, "Protocol")
            ET.SubElement(proto, "Type").text = name
            ET.SubElement(proto, "Server").text = s.hostname
            ET.SubElement(proto, "Port").text = str(e.port)
            ET.SubElement(proto, "LoginName").text = address
            ET.SubElement(proto, "DomainRequired").text = "off"
            ET.SubElement(proto, "SPA").text = "off"
            ET.SubElement(proto, "SSL").text = "on"
            if e.security == "starttls":
                ET.SubElement(proto, "Encryption").text = "TLS"
            ET.SubElement(proto, "AuthRequired").text = "on"
            if kind == "smtp":
                ET.SubElement(proto, "UsePOPAuth").text = "off"
                ET.SubElement(proto, "SMTPLast").text = "off"
    return _document(root)


def _document(root: ET.Element) -> bytes:
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def requested_address(body: bytes) -> str | None:
    """The EMailAddress of a POX request, or None when the document is not one.

    Only UTF-8 (or ASCII) documents without a DTD are parsed: the DTD test must see the text
    the parser will see, and a UTF-16 body would hide ``<!DOCTYPE`` from a byte search
    (ElementTree fetches no external entity, but entity expansion is still refused)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" in text or "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        return None
    if re.search(r"encoding\s*=\s*[\"'](?!utf-8[\"'])", text[:200], re.IGNORECASE):
        return None  # a declared encoding other than UTF-8 would be decoded differently
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    node = root.find(f"{{{AD_REQUEST_NS}}}Request/{{{AD_REQUEST_NS}}}EMailAddress")
    if node is None:  # clients that leave the namespace out, and the mobilesync schema
        node = next((e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "EMailAddress"),
                    None)
    text = (node.text or "").strip() if node is not None else ""
    return text or None


def wants_mobilesync(body: bytes) -> bool:
    """Whether the request asks for the mobilesync response (an ActiveSync device): its
    AcceptableResponseSchema names it. Called only on a body ``requested_address`` read."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return False
    return any(e.tag.rsplit("}", 1)[-1] == "AcceptableResponseSchema"
               and (e.text or "").strip() == AD_MOBILESYNC_NS for e in root.iter())


def mobilesync_xml(address: str, display_name: str, url: str) -> bytes:
    """The mobilesync response: the user, and one Server of Type MobileSync with the
    ActiveSync URL (MS-OXDSCLI, the mobilesync schema; specs.md §8.4)."""
    root = ET.Element("Autodiscover", xmlns=AD_RESPONSE_NS)
    response = ET.SubElement(root, "Response", xmlns=AD_MOBILESYNC_NS)
    ET.SubElement(response, "Culture").text = "en:us"
    user = ET.SubElement(response, "User")
    ET.SubElement(user, "DisplayName").text = display_name or address
    ET.SubElement(user, "EMailAddress").text = address
    server = ET.SubElement(ET.SubElement(ET.SubElement(response, "Action"), "Settings"),
                           "Server")
    ET.SubElement(server, "Type").text = "MobileSync"
    ET.SubElement(server, "Url").text = url
    ET.SubElement(server, "Name").text = url
    return _document(root)


def autoconfig_routes(config: ClientConfig, activesync_url: str = "") -> list[Route]:
    """``activesync_url``: where ActiveSync answers (empty: not served, so Autodiscover
    does not offer it)."""
    async def thunderbird(request: Request) -> Response:
        address = request.query_params.get("emailaddress", "")
        if not address:  # autoconfig.<domain>/mail/config-v1.1.xml: the host names it
            host = (request.headers.get("host") or "").rsplit(":", 1)[0].lower()
            address = host.removeprefix("autoconfig.")
        settings = await config.for_address(address)
        if settings is None or not thunderbird_usable(settings):
            return error_response(request.url.path, 404)
        return Response(thunderbird_xml(settings), media_type=XML)

    async def autodiscover(request: Request) -> Response:
        address = requested_address(await request.body())
        if address is None:
            return error_response(request.url.path, 400,
                                  "expected an Autodiscover request with an EMailAddress")
        settings = await config.for_address(address)
        if settings is None or "@" not in address:
            return error_response(request.url.path, 404)
        if wants_mobilesync(await request.body()):
            if not activesync_url:
                return error_response(request.url.path, 404)
            return Response(mobilesync_xml(address, "", activesync_url), media_type=XML)
        if not settings.servers:
            return error_response(request.url.path, 404)
        return Response(autodiscover_xml(settings, address), media_type=XML)

    async def autodiscover_json(request: Request) -> Response:
        """New Outlook's JSON Autodiscover (``?Protocol=ActiveSync``): the URL only."""
        protocol = request.query_params.get("Protocol", "").lower()
        if protocol != "activesync" or not activesync_url:
            return error_response(request.url.path, 404)
        return JSONResponse({"Protocol": "ActiveSync", "Url": activesync_url})

    paths = ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml",
             "/AutoDiscover/AutoDiscover.xml"]
    return [Route("/.well-known/autoconfig/mail/config-v1.1.xml", thunderbird,
                  methods=["GET", "HEAD"]),
            Route("/mail/config-v1.1.xml", thunderbird, methods=["GET", "HEAD"]),
            *(Route(p, autodiscover, methods=["POST"]) for p in paths),
            Route("/autodiscover/autodiscover.json", autodiscover_json, methods=["GET"]),
            Route("/autodiscover/autodiscover.json/v1.0/{address}", autodiscover_json,
                  methods=["GET"])]
