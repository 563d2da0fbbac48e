"""BATV tags (services/batv.py) and the DNS advice (services/dnsrecords.py), each alone."""

from __future__ import annotations

import re

from postroom import config
from postroom.services import batv
from postroom.services.dkimkeys import KeyView
from postroom.services.dnsrecords import advise, quote_txt, zone_lines

SECRET = bytes(range(32))
NOW = 1_796_000_000.0  # a fixed day, far from a wrap of the day number


def test_tag_shape_and_round_trip() -> None:
    tagged = batv.tag(SECRET, 3, "alice@example.com", 7, NOW)
    assert re.fullmatch(r"prvs=3\d{3}[0-9a-f]{6}=alice@example\.com", tagged)
    parsed = batv.parse(tagged)
    assert parsed is not None and parsed.address == "alice@example.com" and parsed.key == 3
    assert parsed.day == (batv.day_of(NOW) + 7) % 1000  # DDD is the expiry day
    assert batv.check(parsed, SECRET, 7, NOW) is None
    assert batv.check(parsed, SECRET, 7, NOW + 7 * 86400) is None  # its last day
    # the case of the address may change on the way back
    upper = batv.parse(tagged.replace("alice@example.com", "Alice@EXAMPLE.com"))
    assert upper is not None and batv.check(upper, SECRET, 7, NOW) is None


def test_bad_and_expired_tags() -> None:
    parsed = batv.parse(batv.tag(SECRET, 0, "a@b.test", 7, NOW))
    assert parsed is not None
    assert batv.check(parsed, SECRET, 7, NOW + 8 * 86400) == "it has expired"
    assert batv.check(parsed, bytes(32), 7, NOW) == "its signature is wrong"
    other = batv.parse(f"prvs=0{parsed.day:03d}{parsed.mac}=c@b.test")
    assert other is not None and batv.check(other, SECRET, 7, NOW) == \
        "its signature is wrong"


def test_untagged_and_odd_addresses() -> None:
    assert batv.parse("alice@example.com") is None
    assert batv.parse("prvs=12=alice@example.com") is None
    assert batv.parse("prvs=1234567890=alice") is None  # no domain


def keys() -> list[KeyView]:
    return [KeyView("example.com", "pr202612e", "ed25519", "active", 0, 0, None,
                    "pr202612e._domainkey.example.com", "v=DKIM1; k=ed25519; p=AAAA"),
            KeyView("example.com", "old", "rsa", "retired", 0, 0, 1,
                    "old._domainkey.example.com", "v=DKIM1; k=rsa; p=BBBB")]


def test_dns_advice_follows_the_configuration() -> None:
    cfg = config.load(None, ["pop3.pop3.enabled=false", "server.port_offset=10000",
                             "dns.dmarc_reports=reports@elsewhere.test"])
    advice = advise(cfg, "example.com", "mail.example.com", keys())
    by = {(r.name, r.type): r.value for r in advice.records}
    assert by[("example.com", "MX")] == "10 mail.example.com"
    assert by[("example.com", "TXT")].startswith("v=spf1")
    assert ("pr202612e._domainkey.example.com", "TXT") in by
    assert ("old._domainkey.example.com", "TXT") not in by  # retired keys are not published
    assert "rua=mailto:reports@elsewhere.test" in by[("_dmarc.example.com", "TXT")]
    assert by[("example.com._report._dmarc.elsewhere.test", "TXT")] == "v=DMARC1"
    assert by[("_submission._tcp.example.com", "SRV")] == "0 1 10587 mail.example.com"
    assert by[("_pop3._tcp.example.com", "SRV")] == "0 0 0 ."  # RFC 6186 §4
    assert by[("autoconfig.example.com", "CNAME")] == "mail.example.com"
    assert by[("_autodiscover._tcp.example.com", "SRV")] == "0 0 10443 mail.example.com"
    assert any("MTA-STS" in n and "not offered" in n for n in advice.notes)
    lines = zone_lines(advice)
    assert "_pop3._tcp.example.com.\t3600\tIN\tSRV\t0 0 0 ." in lines


def test_dns_advice_says_when_autoconfiguration_is_not_served() -> None:
    on = advise(config.load(None, []), "example.com", "mail.example.com", keys())
    assert any(r.name == "autoconfig.example.com" and "served here over HTTPS and HTTP"
               in r.comment for r in on.records)
    cfg = config.load(None, ["web.https.enabled=false", "web.http.enabled=false",
                               "web.alt.enabled=false"])
    off = advise(cfg, "example.com", "mail.example.com", keys())
    assert any(r.name == "autoconfig.example.com" and "fall back to the SRV records"
               in r.comment for r in off.records)
    assert not any(r.name.startswith("_autodiscover.") for r in off.records)


def test_long_txt_is_split_into_strings() -> None:
    text = "p=" + "A" * 400
    quoted = quote_txt(text)
    assert quoted.count('"') == 4 and quoted.replace('" "', "").strip('"') == text
    assert quote_txt('say "hi"') == '"say \\"hi\\""'
