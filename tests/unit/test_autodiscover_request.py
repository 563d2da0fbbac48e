"""The Outlook Autodiscover request reader (web/autoconfig.py): a DTD is never parsed, in
whatever encoding it hides."""

from __future__ import annotations

from postroom.web.autoconfig import requested_address

NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"


def request(address: str, prolog: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    return (f'{prolog}<Autodiscover xmlns="{NS}"><Request><EMailAddress>{address}'
            "</EMailAddress></Request></Autodiscover>")


def test_a_plain_request_names_its_address() -> None:
    assert requested_address(request("alice@example.com").encode()) == "alice@example.com"
    assert requested_address(request("alice@example.com", "").encode()) == "alice@example.com"


def test_a_dtd_is_refused_in_every_encoding() -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxx">]>'
            f'<Autodiscover xmlns="{NS}"><Request><EMailAddress>&x;</EMailAddress>'
            "</Request></Autodiscover>")
    assert requested_address(bomb.encode()) is None
    utf16 = bomb.replace('version="1.0"', 'version="1.0" encoding="utf-16"').encode("utf-16")
    assert requested_address(utf16) is None  # the byte search alone would not see it
    latin = request("a@example.com", '<?xml version="1.0" encoding="iso-8859-1"?>')
    assert requested_address(latin.encode()) is None
    assert requested_address(b"\xff\xfe<\x00") is None
