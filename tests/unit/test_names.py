"""The name the server calls itself (app.py): never "localhost" when a domain is known."""

from __future__ import annotations

from pathlib import Path

import pytest

from postroom import app, config
from postroom.net.tls import certificate_names, ensure_self_signed


@pytest.mark.parametrize("fqdn,domain,expected", [
    ("mx1.example.com", "example.org", "mx1.example.com"),
    ("localhost", "example.test", "mail.example.test"),
    ("a1b2c3d4", "example.test", "mail.example.test"),
    ("box.localdomain", "example.test", "mail.example.test"),
    ("localhost", None, "localhost"),
])
def test_default_hostname(monkeypatch: pytest.MonkeyPatch, fqdn: str, domain: str | None,
                          expected: str) -> None:
    monkeypatch.setattr(app.socket, "getfqdn", lambda: fqdn)
    assert app.default_hostname(domain) == expected


def test_primary_domain() -> None:
    assert app.primary_domain(config.load(None, ["server.domain=Example.TEST"]),
                              "localhost") == "example.test"
    assert app.primary_domain(config.load(None), "mx1.example.com") == "mx1.example.com"
    assert app.primary_domain(config.load(None), "box") == "box.localdomain"


def test_generated_certificate_names_host_and_domain(tmp_path: Path) -> None:
    cert, _ = ensure_self_signed(tmp_path, "mail.example.test", ["example.test"])
    assert certificate_names(cert) == ["mail.example.test", "example.test", "localhost"]
    before = cert.read_bytes()
    ensure_self_signed(tmp_path, "mail.example.test", ["example.test"])
    assert cert.read_bytes() == before  # kept while the names still fit
    ensure_self_signed(tmp_path, "mx.example.test", ["example.test"])
    assert "mx.example.test" in certificate_names(cert)  # renamed host: made again
