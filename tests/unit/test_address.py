from __future__ import annotations

import pytest

from postroom.core.address import Address, display_domain, normalize_domain
from postroom.core.errors import MailError


@pytest.mark.parametrize("text,expected", [
    ("Example.COM", "example.com"), ("bücher.example", "xn--bcher-kva.example"),
    ("XN--BCHER-KVA.example", "xn--bcher-kva.example"), ("example.com.", "example.com"),
    ("localhost", "localhost")])
def test_domains(text: str, expected: str) -> None:
    assert normalize_domain(text) == expected


@pytest.mark.parametrize("bad", ["", "nodot", "-a.example", "a..example", "[127.0.0.1]",
                                 "1.2.3.4", "under_score.example", "a" * 64 + ".example",
                                 "xn--zz.example"])
def test_bad_domains(bad: str) -> None:
    with pytest.raises(MailError):
        normalize_domain(bad)


def test_addresses() -> None:
    a = Address.parse("<Alice.Smith+Tag@Bücher.Example>")
    assert str(a) == "alice.smith+tag@xn--bcher-kva.example"
    assert str(a.without_tag()) == "alice.smith@xn--bcher-kva.example"
    assert Address.parse("plain@example.com").without_tag() is None
    assert str(Address.parse("jörg@example.com")) == "jörg@example.com"
    assert display_domain("xn--bcher-kva.example") == "bücher.example"
    for bad in ("no-at", "a@b@example.com", "a b@example.com", ".a@example.com",
                "a.@example.com", "@example.com", "x" * 65 + "@example.com", "a@"):
        with pytest.raises(MailError):
            Address.parse(bad)
