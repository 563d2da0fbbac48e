"""web/autoconfig.py's two documents against the XML Schemas written from the published
formats (tests/support/schemas/): every combination of listeners the server can offer
validates, and the schemas have teeth (a broken document fails)."""

from __future__ import annotations

import itertools

import pytest

from postroom.services.clientconfig import ClientConfig, ClientSettings, Endpoint
from postroom.web.autoconfig import autodiscover_xml, thunderbird_usable, thunderbird_xml
from tests.support.xmlschemas import check, errors

ALL = [Endpoint("imap", 993, "implicit"), Endpoint("imap", 143, "starttls"),
       Endpoint("pop3", 995, "implicit"), Endpoint("pop3", 110, "starttls"),
       Endpoint("smtp", 465, "implicit"), Endpoint("smtp", 587, "starttls")]


def settings(endpoints: list[Endpoint], username: str = "a@example.com") -> ClientSettings:
    config = ClientConfig(None, "mail.example.com", endpoints)  # type: ignore[arg-type]
    return ClientSettings("example.com", "mail.example.com", username, config.endpoints)


@pytest.mark.parametrize("mask", range(1, 2 ** len(ALL)))
def test_every_listener_combination_validates(mask: int) -> None:
    chosen = [e for i, e in enumerate(ALL) if mask >> i & 1]
    s = settings(chosen)
    if thunderbird_usable(s):
        check("thunderbird", thunderbird_xml(s))
    check("autodiscover", autodiscover_xml(s, "a@example.com"))


def test_a_bare_domain_gets_the_placeholder_and_validates() -> None:
    doc = thunderbird_xml(settings(ALL, "%EMAILADDRESS%"))
    check("thunderbird", doc)
    assert b"<username>%EMAILADDRESS%</username>" in doc


def test_usable_needs_both_directions() -> None:
    assert not thunderbird_usable(settings(ALL[:4]))  # no submission
    assert not thunderbird_usable(settings(ALL[4:]))  # nothing to read mail with
    assert all(thunderbird_usable(settings([i, o])) for i, o in
               itertools.product(ALL[:4], ALL[4:]))


def test_the_thunderbird_schema_has_teeth() -> None:
    good = thunderbird_xml(settings(ALL)).decode()
    for broken in (good.replace("<socketType>SSL", "<socketType>TLS", 1),
                   good.replace('version="1.1"', 'version="1.0"'),
                   good.replace("<port>993</port>", "<port>0</port>"),
                   good.replace("<hostname>mail.example.com</hostname>", "", 1),
                   good.replace('type="smtp"', 'type="imap"', 1),
                   # the documented order: username before authentication
                   good.replace("<username>a@example.com</username><authentication>"
                                "password-cleartext</authentication>",
                                "<authentication>password-cleartext</authentication>"
                                "<username>a@example.com</username>", 1)):
        assert broken != good
        assert errors("thunderbird", broken.encode()), broken


def test_the_autodiscover_schema_has_teeth() -> None:
    good = autodiscover_xml(settings(ALL), "a@example.com").decode()
    for broken in (good.replace("<Encryption>TLS", "<Encryption>STARTTLS", 1),
                   good.replace("<SSL>on</SSL>", "<SSL>yes</SSL>", 1),
                   good.replace("<Type>IMAP</Type>", "<Type>IMAP4</Type>", 1),
                   good.replace("<Port>993</Port>", "<Port>993</Port><Port>143</Port>", 1),
                   good.replace("<AccountType>email", "<AccountType>mail", 1),
                   good.replace("outlook/responseschema/2006a", "outlook/responseschema/2006",
                                1)):
        assert broken != good
        assert errors("autodiscover", broken.encode()), broken
