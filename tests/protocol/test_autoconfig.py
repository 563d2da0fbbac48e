"""Client autoconfiguration over the real web listeners (docs/web.md): Thunderbird's
config-v1.1 and Outlook's Autodiscover POX, validated against XML Schemas written from the
published formats (tests/support/schemas/), and a Thunderbird-like lookup that starts from
nothing but an address.

The server runs with the standard mail ports moved by one port_offset, so the advertised ports
are the standard ones plus that offset."""

from __future__ import annotations

import http.client
import random
import socket
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from postroom.web.autoconfig import AD_OUTLOOK_NS, AD_REQUEST_NS, AD_RESPONSE_NS
from tests.support.server import RunningServer, server_config
from tests.support.tls import insecure_context
from tests.support.xmlschemas import check

STANDARD = {"imap.imap.port": 143, "imap.imaps.port": 993, "smtp.submission.port": 587,
            "smtp.submissions.port": 465, "web.https.port": 443, "web.http.port": 80}


def _free_offset() -> int:
    """An offset under which every standard port used here is free right now."""
    for _ in range(50):
        offset = random.randrange(20000, 60000, 10)
        try:
            for port in STANDARD.values():
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return offset
    raise RuntimeError("no free port offset")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    offset = _free_offset()
    extra = [f"{key}={port}" for key, port in STANDARD.items()]
    extra += ["smtp.submission.enabled=true", "smtp.submissions.enabled=true",
              "web.https.enabled=true", "web.http.enabled=true", "web.admin.enabled=false",
              f"server.port_offset={offset}"]
    server = RunningServer(server_config(Path(tmp_path_factory.mktemp("autoconfig")),
                                         extra=extra))
    server.offset = offset  # type: ignore[attr-defined]
    yield server
    server.stop()


def get(srv: RunningServer, label: str, path: str, host: str = "mail.example.test",
        method: str = "GET", body: bytes | None = None) -> tuple[int, str, bytes]:
    conn: http.client.HTTPConnection
    if label == "http":
        conn = http.client.HTTPConnection("127.0.0.1", srv.port(label), timeout=10)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", srv.port(label), timeout=10,
                                           context=insecure_context())
    conn.request(method, path, body=body, headers={"Host": host})
    r = conn.getresponse()
    out = r.status, r.headers.get("Content-Type", ""), r.read()
    conn.close()
    return out


def servers(doc: bytes) -> dict[str, list[tuple[str, int, str]]]:
    """What Thunderbird reads of a config-v1.1 document (its wiki's file format): per server
    type, (hostname, port, socketType) in document order; the structure is checked too."""
    check("thunderbird", doc)
    root = ET.fromstring(doc)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    (provider,) = root.findall("emailProvider")
    assert provider.get("id") and provider.findtext("domain")
    out: dict[str, list[tuple[str, int, str]]] = {}
    for tag in ("incomingServer", "outgoingServer"):
        for node in provider.findall(tag):
            kind = node.get("type")
            assert kind in ("imap", "pop3", "smtp")
            socket_type = node.findtext("socketType")
            assert socket_type in ("plain", "SSL", "STARTTLS")
            # our SASL mechanisms are PLAIN/LOGIN/SCRAM inside TLS: "password-cleartext" to
            # Thunderbird ("password-encrypted" would be CRAM-MD5, which we do not offer)
            assert [a.text for a in node.findall("authentication")] == ["password-cleartext"]
            assert node.findtext("username")
            out.setdefault(kind, []).append((node.findtext("hostname") or "",
                                             int(node.findtext("port") or 0), socket_type))
    return out


def test_thunderbird_lookup_from_an_address(srv: RunningServer) -> None:
    """Thunderbird's order: https://autoconfig.<domain>/mail/config-v1.1.xml, then
    https://<domain>/.well-known/autoconfig/...; the first that answers wins."""
    address = "alice@example.test"
    domain = address.split("@")[1]
    found = None
    for label, host, path in (
            ("https", f"autoconfig.{domain}", f"/mail/config-v1.1.xml?emailaddress={address}"),
            ("https", domain,
             f"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={address}")):
        status, ctype, body = get(srv, label, path, host)
        if status == 200:
            assert ctype.startswith("application/xml")
            found = servers(body)
            break
    assert found is not None
    off = srv.offset  # type: ignore[attr-defined]
    assert found["imap"] == [("mail.example.test", 993 + off, "SSL"),
                             ("mail.example.test", 143 + off, "STARTTLS")]
    assert found["smtp"] == [("mail.example.test", 465 + off, "SSL"),
                             ("mail.example.test", 587 + off, "STARTTLS")]
    assert {n.text for n in ET.fromstring(body).iter("username")} == {address}


def test_the_autoconfig_host_answers_in_plain_http(srv: RunningServer) -> None:
    status, _, body = get(srv, "http", "/mail/config-v1.1.xml", host="autoconfig.example.test")
    assert status == 200
    check("thunderbird", body)
    root = ET.fromstring(body)
    assert root.findtext("emailProvider/domain") == "example.test"
    assert root.findtext("emailProvider/incomingServer/username") == "%EMAILADDRESS%"


def test_an_unknown_domain_is_404(srv: RunningServer) -> None:
    path = "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=bob@elsewhere.example"
    assert get(srv, "https", path)[0] == 404
    assert get(srv, "https", "/mail/config-v1.1.xml", host="autoconfig.elsewhere.example"
               )[0] == 404
    assert get(srv, "https", "/mail/config-v1.1.xml?emailaddress=%00@@")[0] == 404


def pox(address: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="{AD_REQUEST_NS}">'
            f"<Request><EMailAddress>{address}</EMailAddress><AcceptableResponseSchema>"
            f"{AD_OUTLOOK_NS}</AcceptableResponseSchema></Request></Autodiscover>").encode()


@pytest.mark.parametrize("path", ["/autodiscover/autodiscover.xml",
                                  "/Autodiscover/Autodiscover.xml",
                                  "/AutoDiscover/AutoDiscover.xml"])
def test_autodiscover_pox(srv: RunningServer, path: str) -> None:
    """MS-OXDSCLI §2.2.4.2 response: Autodiscover (responseschema/2006) > Response
    (outlook/responseschema/2006a) > Account > AccountType, Action, Protocol*."""
    check("autodiscover-request", pox("alice@example.test"))  # what Outlook sends
    status, ctype, body = get(srv, "https", path, method="POST",
                              body=pox("alice@example.test"))
    assert status == 200 and ctype.startswith("application/xml")
    check("autodiscover", body)
    root = ET.fromstring(body)
    assert root.tag == f"{{{AD_RESPONSE_NS}}}Autodiscover"
    ns = {"r": AD_OUTLOOK_NS}
    response = root.find("r:Response", ns)
    assert response is not None
    assert response.findtext("r:User/r:AutoDiscoverSMTPAddress", namespaces=ns) == \
        "alice@example.test"
    account = response.find("r:Account", ns)
    assert account is not None
    assert account.findtext("r:AccountType", namespaces=ns) == "email"
    assert account.findtext("r:Action", namespaces=ns) == "settings"
    protocols = [(p.findtext("r:Type", namespaces=ns), int(p.findtext("r:Port", "0", ns)),
                  p.findtext("r:SSL", namespaces=ns), p.findtext("r:Encryption", namespaces=ns))
                 for p in account.findall("r:Protocol", ns)]
    off = srv.offset  # type: ignore[attr-defined]
    assert protocols == [("IMAP", 993 + off, "on", None), ("IMAP", 143 + off, "on", "TLS"),
                         ("SMTP", 465 + off, "on", None), ("SMTP", 587 + off, "on", "TLS")]
    for p in account.findall("r:Protocol", ns):
        assert p.findtext("r:Server", namespaces=ns) == "mail.example.test"
        assert p.findtext("r:LoginName", namespaces=ns) == "alice@example.test"
        assert p.findtext("r:AuthRequired", namespaces=ns) == "on"


def test_autodiscover_refuses_what_is_not_a_request(srv: RunningServer) -> None:
    path = "/autodiscover/autodiscover.xml"
    assert get(srv, "https", path, method="POST", body=pox("bob@elsewhere.example"))[0] == 404
    assert get(srv, "https", path, method="POST", body=b"<not xml")[0] == 400
    bomb = (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxx">]>'
            b"<Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>")
    assert get(srv, "https", path, method="POST", body=bomb)[0] == 400
    assert get(srv, "https", path)[0] == 405


def test_without_a_submission_listener_thunderbird_gets_404(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """config-v1.1 requires an outgoing server: with no TLS submission port there is none to
    name, so no document (which would not validate) but 404; Autodiscover lists IMAP alone."""
    server = RunningServer(server_config(Path(tmp_path_factory.mktemp("nosubmit")),
                                         extra=["web.https.enabled=true", "web.https.port=0"]))
    try:
        path = "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=a@example.test"
        assert get(server, "https", path)[0] == 404
        status, _, body = get(server, "https", "/autodiscover/autodiscover.xml",
                              method="POST", body=pox("a@example.test"))
        assert status == 200
        check("autodiscover", body)
        types = {t.text for t in ET.fromstring(body).iter(f"{{{AD_OUTLOOK_NS}}}Type")}
        assert types == {"IMAP"}
    finally:
        server.stop()
