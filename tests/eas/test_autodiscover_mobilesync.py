"""Autodiscover for ActiveSync devices (specs.md §8.4): the mobilesync request an iPhone or
Android phone POSTs is answered with the MobileSync server URL; Outlook's request still gets
its own answer; New Outlook's JSON form names the URL; a domain we do not host is 404."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from tests.support.eas import Eas, EasClient
from tests.support.server import RunningServer

REQUEST = ('<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="http://schemas.'
           'microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"><Request>'
           "<EMailAddress>{address}</EMailAddress><AcceptableResponseSchema>http://schemas."
           "microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
           "</AcceptableResponseSchema></Request></Autodiscover>")
MS = "{http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006}"


def test_a_phone_finds_the_activesync_url(eas_server: RunningServer, eas: Eas) -> None:
    me = eas.account("finder-ad@example.test")
    client = EasClient(eas_server, me)
    status, _headers, body = client.http(
        "POST", "/Autodiscover/Autodiscover.xml", REQUEST.format(address=me).encode(),
        headers={"Content-Type": "text/xml"})
    assert status == 200, body
    root = ET.fromstring(body)
    server = root.find(f"{MS}Response/{MS}Action/{MS}Settings/{MS}Server")
    assert server is not None
    assert server.findtext(f"{MS}Type") == "MobileSync"
    url = server.findtext(f"{MS}Url") or ""
    assert url.startswith("https://") and url.endswith("/Microsoft-Server-ActiveSync")
    assert root.findtext(f"{MS}Response/{MS}User/{MS}EMailAddress") == me
    status, _, body = client.http("GET", "/autodiscover/autodiscover.json/v1.0/"
                                  f"{me}?Protocol=ActiveSync")
    assert status == 200 and json.loads(body)["Url"] == url
    status, _, _ = client.http("POST", "/autodiscover/autodiscover.xml", REQUEST.format(
        address="someone@not-hosted.test").encode())
    assert status == 404


def test_outlook_still_gets_its_own_answer(eas_server: RunningServer, eas: Eas) -> None:
    me = eas.account("outlook-ad@example.test")
    client = EasClient(eas_server, me)
    outlook = REQUEST.replace("mobilesync/requestschema", "outlook/requestschema").replace(
        "mobilesync/responseschema/2006", "outlook/responseschema/2006a")
    status, _, body = client.http("POST", "/autodiscover/autodiscover.xml",
                                  outlook.format(address=me).encode())
    assert status == 200 and b"outlook/responseschema/2006a" in body and b"MobileSync" \
        not in body
