"""``postroom dns``: the CalDAV/CardDAV records of RFC 6764 (SRV over TLS, TXT path) beside
the mail ones, following the configuration (services/dnsrecords.py), and through the CLI."""

from __future__ import annotations

from pathlib import Path

from postroom import config
from postroom.services.dnsrecords import advise, zone_lines
from tests.support.cli import run


def _by(overrides: list[str]) -> dict[tuple[str, str], str]:
    advice = advise(config.load(None, overrides), "example.com", "mail.example.com", [])
    return {(r.name, r.type): r.value for r in advice.records}


def test_caldav_and_carddav_srv_and_path() -> None:
    by = _by(["server.port_offset=10000"])
    for kind in ("caldav", "carddav"):
        assert by[(f"_{kind}s._tcp.example.com", "SRV")] == "0 1 10443 mail.example.com"
        assert by[(f"_{kind}s._tcp.example.com", "TXT")] == "path=/dav/"
        assert by[(f"_{kind}._tcp.example.com", "SRV")] == "0 0 0 ."  # never without TLS
    advice = advise(config.load(None, []), "example.com", "mail.example.com", [])
    lines = zone_lines(advice)
    assert "_caldavs._tcp.example.com.\t3600\tIN\tSRV\t0 1 443 mail.example.com." in lines
    assert '_carddavs._tcp.example.com.\t3600\tIN\tTXT\t"path=/dav/"' in lines


def test_not_offered_when_dav_or_https_is_off() -> None:
    for overrides, why in ((["web.dav.enabled=false"], "web.dav.enabled is off"),
                           (["web.https.enabled=false"], "web.https is off")):
        advice = advise(config.load(None, overrides), "example.com", "mail.example.com", [])
        by = {(r.name, r.type): r.value for r in advice.records}
        assert by[("_caldavs._tcp.example.com", "SRV")] == "0 0 0 ."
        assert ("_caldavs._tcp.example.com", "TXT") not in by
        assert any(why in note for note in advice.notes)


def test_postroom_dns_prints_them(tmp_path: Path) -> None:
    data = tmp_path / "var"
    assert run(data, "domain", "add", "example.org").returncode == 0
    result = run(data, "dns", "example.org")
    assert result.returncode == 0, result.stderr
    assert "_caldavs._tcp.example.org." in result.stdout
    assert "_carddavs._tcp.example.org." in result.stdout
    assert '"path=/dav/"' in result.stdout
