"""``postroom dkim``, ``postroom dns`` and ``postroom batv`` as an administrator runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support import cli


def ok(data: Path, *args: str) -> str:
    result = cli.run(data, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    ok(tmp_path, "domain", "add", "example.com")
    return tmp_path


def keys(data: Path) -> dict[str, dict[str, object]]:
    return {k["selector"]: k for k in json.loads(ok(data, "dkim", "list", "example.com",
                                                   "--json"))}


def test_generate_prints_records_and_keeps_the_private_key_private(data: Path) -> None:
    out = ok(data, "dkim", "generate", "example.com")
    month = re.search(r"pr(\d{6})e\._domainkey", out)
    assert month is not None
    assert f"pr{month.group(1)}e._domainkey.example.com.\t3600\tIN\tTXT\t" \
           '"v=DKIM1; k=ed25519; p=' in out
    assert f"pr{month.group(1)}r._domainkey.example.com." in out and "k=rsa" in out
    assert "PRIVATE KEY" not in out
    listed = keys(data)
    assert {k["state"] for k in listed.values()} == {"active"}
    show = ok(data, "dkim", "show", "example.com")
    assert "PRIVATE KEY" not in show and "v=DKIM1; k=rsa" in show
    # the private key only on explicit request, and that is audited
    pem = ok(data, "dkim", "show", "example.com", f"pr{month.group(1)}e", "--private")
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    audit = json.loads(ok(data, "audit", "list", "--action", "dkim.", "--json"))
    assert [a["action"] for a in audit] == ["dkim.show-private", "dkim.generate"]
    # nothing in the database holds the key in the clear
    assert b"PRIVATE KEY" not in (data / "postroom.db").read_bytes()
    again = cli.run(data, "dkim", "generate", "example.com")
    assert again.returncode == 1 and "dkim rotate" in again.stderr


def test_rotate_with_overlap_then_activate_and_retire(data: Path) -> None:
    ok(data, "dkim", "generate", "example.com", "--algorithm", "rsa", "--selector", "old")
    out = ok(data, "dkim", "rotate", "example.com", "--algorithm", "rsa", "--selector",
             "new", "--delay", "2d")
    assert "new._domainkey.example.com." in out and "pending" in out
    assert {s: k["state"] for s, k in keys(data).items()} == {"old": "active",
                                                              "new": "pending"}
    # both are published while the new one waits
    dns = ok(data, "dns", "example.com")
    assert "old._domainkey.example.com." in dns and "new._domainkey.example.com." in dns
    ok(data, "dkim", "activate", "example.com", "new")  # the explicit step
    states = {s: k["state"] for s, k in keys(data).items()}
    assert states == {"old": "retiring", "new": "active"}  # still published: the overlap
    assert "old._domainkey" in ok(data, "dns", "example.com")
    busy = cli.run(data, "dkim", "remove", "example.com", "old")
    assert busy.returncode == 1 and "retire it first" in busy.stderr
    ok(data, "dkim", "retire", "example.com", "old")
    assert keys(data)["old"]["state"] == "retired"
    assert "old._domainkey" not in ok(data, "dns", "example.com")
    ok(data, "dkim", "remove", "example.com", "old")
    assert list(keys(data)) == ["new"]


def test_dns_prints_every_record(data: Path) -> None:
    ok(data, "dkim", "generate", "example.com")
    zone = ok(data, "dns", "example.com", "--set", "server.hostname=mail.example.com",
              "--set", "pop3.pop3.enabled=false")
    for line in ("example.com.\t3600\tIN\tMX\t10 mail.example.com.",
                 'example.com.\t3600\tIN\tTXT\t"v=spf1 mx -all"',
                 "_submission._tcp.example.com.\t3600\tIN\tSRV\t0 1 587 mail.example.com.",
                 "_submissions._tcp.example.com.\t3600\tIN\tSRV\t0 1 465 mail.example.com.",
                 "_imap._tcp.example.com.\t3600\tIN\tSRV\t0 1 143 mail.example.com.",
                 "_imaps._tcp.example.com.\t3600\tIN\tSRV\t0 1 993 mail.example.com.",
                 "_pop3s._tcp.example.com.\t3600\tIN\tSRV\t0 1 995 mail.example.com.",
                 "_pop3._tcp.example.com.\t3600\tIN\tSRV\t0 0 0 .",
                 "autoconfig.example.com.\t3600\tIN\tCNAME\tmail.example.com.",
                 "autodiscover.example.com.\t3600\tIN\tCNAME\tmail.example.com."):
        assert line in zone.splitlines(), line
    assert '_dmarc.example.com.\t3600\tIN\tTXT\t"v=DMARC1; p=none; ' \
           'rua=mailto:postmaster@example.com' in zone
    assert "MTA-STS (RFC 8461): not offered" in zone and "TLS-RPT (RFC 8460): not offered" \
        in zone
    assert zone.count("._domainkey.example.com.") == 2
    advice = json.loads(ok(data, "dns", "example.com", "--json"))
    types = sorted({r["type"] for r in advice["records"]})
    assert types == ["CNAME", "MX", "SRV", "TXT"]
    unknown = cli.run(data, "dns", "nowhere.test")
    assert unknown.returncode == 1 and "unknown domain" in unknown.stderr


def test_batv_keys_rotate_and_never_show_secrets(data: Path) -> None:
    assert "BATV is off" in ok(data, "batv", "list")
    ok(data, "batv", "rotate")
    ok(data, "batv", "rotate")
    rows = json.loads(ok(data, "batv", "list", "--json"))
    assert [r["state"] for r in rows] == ["signing", "validating"]
    assert "secret" not in json.dumps(rows)
    ok(data, "batv", "rotate", "--drop-old")
    assert [r["state"] for r in json.loads(ok(data, "batv", "list", "--json"))] == \
        ["signing"]
