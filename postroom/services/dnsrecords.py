"""Every DNS record a hosted domain should publish, for ``postroom dns DOMAIN``.

Built from what this server actually runs (its host name, the listeners enabled and their
ports, the DKIM keys published now), so the advice matches the configuration: a disabled
listener gets the RFC 6186 §4 "not offered" SRV record (target ".") rather than a record
that points clients at a closed port. Things Postroom does not offer (MTA-STS, TLS-RPT) are
said to be not offered instead of being printed.

Output is a list of records, rendered as zone-file lines (RFC 1035 §5.1) or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from postroom.config import Config
from postroom.services.dkimkeys import KeyView

TXT_CHUNK = 255  # RFC 1035 §3.3: one character-string is at most 255 octets

# RFC 6186 §3 (and RFC 8314 §5.1 for submissions): service label, config section, label
SRV_SERVICES = (
    ("_submissions._tcp", "smtp.submissions"),
    ("_submission._tcp", "smtp.submission"),
    ("_imaps._tcp", "imap.imaps"),
    ("_imap._tcp", "imap.imap"),
    ("_pop3s._tcp", "pop3.pop3s"),
    ("_pop3._tcp", "pop3.pop3"),
)


@dataclass(frozen=True, slots=True)
class Record:
    name: str  # fully qualified, without the final dot
    type: str
    value: str  # as data: TXT text unquoted, a host name without the final dot
    ttl: int
    comment: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "value": self.value,
                "comment": self.comment}


@dataclass
class Advice:
    domain: str
    records: list[Record] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what is not offered, and what is missing

    def as_dict(self) -> dict[str, object]:
        return {"domain": self.domain, "records": [r.as_dict() for r in self.records],
                "notes": list(self.notes)}


def _service(cfg: Config, section: str) -> tuple[bool, int]:
    node: object = cfg
    for part in section.split("."):
        node = getattr(node, part)
    enabled, port = bool(getattr(node, "enabled")), int(getattr(node, "port"))  # noqa: B009
    return enabled and port > 0, port + cfg.server.port_offset


def quote_txt(text: str) -> str:
    """TXT data as zone-file character-strings of at most 255 octets, quoted and escaped."""
    raw = text.encode("utf-8")
    pieces = [raw[i:i + TXT_CHUNK] for i in range(0, len(raw), TXT_CHUNK)] or [b""]
    out = []
    for piece in pieces:
        s = piece.decode("utf-8", "replace").replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'"{s}"')
    return " ".join(out)


def advise(cfg: Config, domain: str, hostname: str, keys: list[KeyView]) -> Advice:
    """The records for ``domain`` served by the host ``hostname``."""
    ttl = cfg.dns.ttl
    host = hostname.rstrip(".")
    out = Advice(domain)
    add = out.records.append
    # RFC 5321 §5.1: where mail for the domain goes
    add(Record(domain, "MX", f"10 {host}", ttl, "mail for the domain goes to this server"))
    # RFC 7208 §3: who may send for it
    add(Record(domain, "TXT", cfg.dns.spf, ttl, "SPF (RFC 7208)"))
    # RFC 6376 §3.6.2.1: each published key (pending keys too: published before they sign)
    published = [k for k in keys if k.state in ("pending", "active", "retiring")]
    for key in published:
        add(Record(key.record_name, "TXT", key.record, ttl,
                   f"DKIM {key.algorithm} key, {key.state}"))
    if not published:
        out.notes.append(f"DKIM: no key yet; make them with 'postroom dkim generate {domain}'")
    # RFC 7489 §6.3: the policy, with a reporting address (rua)
    rua = cfg.dns.dmarc_reports if "@" in cfg.dns.dmarc_reports \
        else f"{cfg.dns.dmarc_reports}@{domain}"
    add(Record(f"_dmarc.{domain}", "TXT",
               f"v=DMARC1; p={cfg.dns.dmarc_policy}; rua=mailto:{rua}; adkim=r; aspf=r", ttl,
               "DMARC (RFC 7489); aggregate reports go to the rua address"))
    rua_domain = rua.rpartition("@")[2].lower()
    if rua_domain != domain:  # RFC 7489 §7.1: the report domain must agree to take them
        add(Record(f"{domain}._report._dmarc.{rua_domain}", "TXT", "v=DMARC1", ttl,
                   f"published by {rua_domain}: it accepts {domain}'s DMARC reports"))
    # RFC 6186 §3: where mail clients find the services; §4: "." = not offered here
    for label, section in SRV_SERVICES:
        enabled, port = _service(cfg, section)
        if enabled:
            add(Record(f"{label}.{domain}", "SRV", f"0 1 {port} {host}", ttl,
                       "RFC 6186 client configuration"))
        else:
            add(Record(f"{label}.{domain}", "SRV", "0 0 0 .", ttl,
                       "RFC 6186 §4: not offered by this server"))
    # Client autoconfiguration names (Thunderbird autoconfig, Outlook autodiscover), served by
    # the web listeners (docs/web.md) when they are on
    https, https_port = _service(cfg, "web.https")
    plain, _ = _service(cfg, "web.http")
    served = "served here over " + " and ".join(
        [n for n, on in (("HTTPS", https), ("HTTP", plain)) if on]) if https or plain else \
        "not served while web.https and web.http are off; clients fall back to the SRV records"
    for name in ("autoconfig", "autodiscover"):
        add(Record(f"{name}.{domain}", "CNAME", host, ttl,
                   f"client autoconfiguration (Thunderbird autoconfig, Outlook Autodiscover): "
                   f"{served}"))
    if https:  # Outlook's last resort before giving up (MS-OXDSCLI §3.1.5.2)
        add(Record(f"_autodiscover._tcp.{domain}", "SRV", f"0 0 {https_port} {host}", ttl,
                   "Outlook Autodiscover over HTTPS"))
    _groupware(cfg, out, domain, host, ttl, https, https_port)
    out.notes.append(f"{host} itself needs A/AAAA records, and each of its addresses a PTR "
                     f"record naming {host} (receivers check that the sending host's name "
                     "and address agree); they are not printed: this server does not know "
                     "its public addresses")
    out.notes.append("MTA-STS (RFC 8461): not offered; Postroom does not serve the policy "
                     f"file at https://mta-sts.{domain}/.well-known/mta-sts.txt, so publish "
                     f"no _mta-sts.{domain} record")
    out.notes.append("TLS-RPT (RFC 8460): not offered; Postroom does not process TLS "
                     f"reports, so publish no _smtp._tls.{domain} record")
    return out


def _groupware(cfg: Config, out: Advice, domain: str, host: str, ttl: int, https: bool,
               https_port: int) -> None:
    """RFC 6764 §3: where CalDAV and CardDAV clients find the service (SRV over TLS, the
    "s" labels), and §4: the context path as a TXT record. Served only over HTTPS (Basic
    passwords never travel in the clear), so the plain-text labels say "not offered"
    (RFC 6764 §3 with RFC 2782's target "."), as does everything while web.dav is off."""
    served = https and cfg.web.dav.enabled
    for kind in ("caldav", "carddav"):
        secure = f"_{kind}s._tcp.{domain}"
        if served:
            add = out.records.append
            add(Record(secure, "SRV", f"0 1 {https_port} {host}", ttl,
                       "RFC 6764 calendar and contacts clients (CalDAV, CardDAV) over HTTPS"))
            add(Record(secure, "TXT", "path=/dav/", ttl,
                       "RFC 6764 §4: the context path of the DAV service"))
        else:
            out.records.append(Record(secure, "SRV", "0 0 0 .", ttl,
                                      "RFC 6764: not offered by this server"))
        out.records.append(Record(f"_{kind}._tcp.{domain}", "SRV", "0 0 0 .", ttl,
                                  "RFC 6764: not offered without TLS"))
    if not served:
        why = "web.dav.enabled is off" if https else "web.https is off"
        out.notes.append(f"CalDAV/CardDAV: not offered while {why}")


def zone_lines(advice: Advice) -> list[str]:
    """The records as zone-file lines, each preceded by its comment, then the notes."""
    lines = [f"; DNS records for {advice.domain} (postroom dns)"]
    said = ""
    for r in advice.records:
        value = quote_txt(r.value) if r.type == "TXT" else r.value
        if r.type in ("MX", "SRV", "CNAME") and value != "0 0 0 ." and not value.endswith("."):
            value += "."
        if r.comment and r.comment != said:  # one comment over a run of alike records
            lines.append(f"; {r.comment}")
        said = r.comment
        lines.append(f"{r.name}.\t{r.ttl}\tIN\t{r.type}\t{value}")
    lines += [f"; {note}" for note in advice.notes]
    return lines
