"""Discovery (RFC 6764, RFC 5397, RFC 4791 §6.2.1, RFC 6352 §7.1.1) and HTTP Basic
authentication on /dav/, with the caldav library and raw requests."""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote

import pytest

from postroom.core.actor import Actor, Origin
from tests.support.dav import Dav

CUP = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
       '<D:current-user-principal/></D:prop></D:propfind>')
HOMES = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
         'xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="urn:ietf:params:xml:ns:carddav">'
         '<D:prop><C:calendar-home-set/><A:addressbook-home-set/><D:principal-URL/>'
         '<C:calendar-user-address-set/><C:schedule-inbox-URL/><D:displayname/>'
         '</D:prop></D:propfind>')


def test_caldav_library_discovers_from_the_server_url(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    client = dav.caldav(alice)
    principal = client.principal()
    assert str(principal.url).endswith("/dav/principals/alice@example.test/")
    names = sorted(str(c.get_display_name()) for c in principal.calendars())
    assert names == ["Calendar", "Notes", "Tasks"]
    home = unquote(str(principal.calendar_home_set.url))
    assert home.endswith("/dav/calendars/alice@example.test/")


def test_propfind_depth0_on_root_has_current_user_principal(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    for path in ("/", "/dav/", "/dav/calendars/alice@example.test/"):
        status, headers, body = dav.request(alice, "PROPFIND", path, CUP, {"Depth": "0"})
        assert status == 207, (path, body)
        assert b"<D:href>/dav/principals/alice@example.test/</D:href>" in body
        assert headers["content-type"].startswith("application/xml")
        assert headers["server-timing"].startswith("app;dur=")


def test_principal_has_the_homes(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    status, _, body = dav.request(alice, "PROPFIND", "/dav/principals/alice@example.test/",
                                  HOMES, {"Depth": "0"})
    assert status == 207
    assert b"/dav/calendars/alice@example.test/" in body
    assert b"/dav/addressbooks/alice@example.test/" in body
    assert b"mailto:alice@example.test" in body
    assert b"/dav/calendars/alice@example.test/inbox/" in body
    assert b"404" not in body


def test_well_known_redirects_to_dav(dav: Dav) -> None:
    for path in ("/.well-known/caldav", "/.well-known/carddav", "/.well-known/caldav/"):
        status, headers, _ = dav.request(None, "PROPFIND", path, CUP)
        assert status == 301
        assert headers["location"] == "/dav/"


def test_options_answers_without_credentials_with_the_dav_header(dav: Dav) -> None:
    status, headers, _ = dav.request(None, "OPTIONS", "/dav/")
    assert status == 200
    for word in ("1", "2", "3", "access-control", "calendar-access", "addressbook",
                 "extended-mkcol", "calendar-auto-schedule"):
        assert word in [w.strip() for w in headers["dav"].split(",")]
    assert "PROPFIND" in headers["allow"]


def test_no_credentials_is_401_with_a_basic_challenge(dav: Dav) -> None:
    status, headers, _ = dav.request(None, "PROPFIND", "/dav/", CUP, {"Depth": "0"})
    assert status == 401
    assert headers["www-authenticate"] == 'Basic realm="Postroom", charset="UTF-8"'


def test_wrong_password_and_garbage_credentials_are_401(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    status, headers, _ = dav.request(alice, "PROPFIND", "/dav/", CUP, {"Depth": "0"},
                                     password="wrong")
    assert status == 401 and "www-authenticate" in headers
    for value in ("Basic !!!!", "Basic " + base64.b64encode(b"no-colon").decode(),
                  "Bearer abc", "Basic " + base64.b64encode(b"\xff\xfe:x").decode()):
        status, _, _ = dav.request(None, "PROPFIND", "/dav/", CUP,
                                   {"Depth": "0", "Authorization": value})
        assert status == 401, value


def test_another_users_home_is_404_like_a_missing_one(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    dav.account("bob@example.test")
    s1, _, b1 = dav.request(alice, "PROPFIND", "/dav/calendars/bob@example.test/", CUP,
                            {"Depth": "0"})
    s2, _, b2 = dav.request(alice, "PROPFIND", "/dav/calendars/nobody@example.test/", CUP,
                            {"Depth": "0"})
    assert s1 == s2 == 404 and b1 == b2


def test_principal_property_search_finds_a_colleague(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    dav.account("bob@example.test")
    body = ('<?xml version="1.0"?><D:principal-property-search xmlns:D="DAV:">'
            '<D:property-search><D:prop><D:displayname/></D:prop><D:match>bob</D:match>'
            '</D:property-search><D:prop><D:displayname/></D:prop>'
            '</D:principal-property-search>')
    status, _, out = dav.request(alice, "REPORT", "/dav/principals/", body, {"Depth": "0"})
    assert status == 207
    assert b"/dav/principals/bob@example.test/" in out
    assert b"alice" not in out


def test_app_password_works_and_failures_are_logged(dav: Dav,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """Basic goes through AuthService as IMAP LOGIN: app passwords work, failures are
    logged with protocol=dav (docs/fail2ban/)."""
    quinn = dav.account("quinn@example.test")
    services = dav.server.services

    async def make() -> str:
        rec = await services.store.directory.get_account(quinn)
        assert rec is not None
        principal = await services.directory.principal_for(rec)
        _, password = await services.app_passwords.create(
            Actor(principal, Origin("webmail", "127.0.0.1")), "phone")
        return password
    app_password = dav.server.call(make())
    status, _, body = dav.request(quinn, "PROPFIND", "/dav/", CUP, {"Depth": "0"},
                                  password=app_password)
    assert status == 207 and b"/dav/principals/quinn@example.test/" in body
    with caplog.at_level("INFO", logger="postroom.auth"):
        status, _, _ = dav.request(quinn, "PROPFIND", "/dav/", CUP, {"Depth": "0"},
                                   password="not-it")
    assert status == 401
    failed = [r for r in caplog.records if r.getMessage() == "login failed"]
    assert failed and failed[-1].__dict__["protocol"] == "dav"
    assert failed[-1].__dict__["user"] == quinn


def test_a_colleagues_principal_says_who_it_is_and_nothing_more(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    dav.account("bob@example.test")
    dav.account("zed@other.test")
    status, _, body = dav.request(alice, "PROPFIND", "/dav/principals/bob@example.test/",
                                  HOMES, {"Depth": "0"})
    assert status == 207
    assert b"mailto:bob@example.test" in body and b"calendar-home-set" in body
    ok = re.findall(rb"<D:propstat>.*?</D:propstat>", body, re.S)[0]
    assert b"calendar-home-set" not in ok  # not shown to others
    for who in ("zed@other.test", "nobody@example.test"):
        status, _, _ = dav.request(alice, "PROPFIND", f"/dav/principals/{who}/", HOMES,
                                   {"Depth": "0"})
        assert status == 404
