"""The RFC 7208 SPF test suite (the YAML published with pyspf 2.0.14) and a ``Lookup`` that
answers from a scenario's ``zonedata``, so our evaluator runs the suite without a network.

The YAML is test data fetched from PyPI (the pyspf source distribution), not committed: `make
test-deps` downloads it into ``.cache/vectors``; ``suite_path`` downloads it there when it is
missing, and the tests skip only when PyPI cannot be reached.

Zone data rules (those of the suite's own driver): a name's ``SPF`` records are also served as
``TXT`` unless the name has ``TXT`` records of its own; a bare ``TIMEOUT`` makes a question at
the name time out unless records of its type come before it; ``{TYPE: TIMEOUT}`` only
questions of that type; a value ``NONE`` is no record; a ``CNAME`` is followed; a name not
listed is NXDOMAIN.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import yaml

from postroom.net.lookup import NXDOMAIN, VOID, Answer, DnsTemporary, valid_name

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "vectors"
SDIST = "pyspf-2.0.14.tar.gz"


def suite_path() -> Path | None:
    path = CACHE / SDIST
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--no-binary", ":all:", "pyspf==2.0.14", "-d", str(CACHE)],
                       capture_output=True, timeout=120, check=False)
    return path if path.exists() else None


def load_scenarios(name: str = "rfc7208-tests.yml") -> list[dict[str, Any]]:
    path = suite_path()
    if path is None:
        return []
    with tarfile.open(path) as tar:
        member = tar.extractfile(f"pyspf-2.0.14/test/{name}")
        assert member is not None
        return list(yaml.safe_load_all(member.read()))


class ZoneLookup:
    """``Lookup`` over one scenario's zonedata."""

    def __init__(self, zonedata: dict[str, list[Any]]) -> None:
        self.zone: dict[str, list[tuple[str, Any]]] = {}
        for name, items in zonedata.items():
            records: list[tuple[str, Any]] = []
            for item in items:
                if item == "TIMEOUT":
                    records.append(("TIMEOUT", None))
                    continue
                for rtype, value in item.items():
                    records.append((rtype, value))
            has_txt = any(t == "TXT" for t, _ in records)
            if not has_txt:
                records += [("TXT", v) for t, v in records if t == "SPF"]
            self.zone[name.lower().rstrip(".")] = records
        self.queries: list[tuple[str, str]] = []

    async def query(self, name: str, rdtype: str, depth: int = 0) -> Answer:
        self.queries.append((name, rdtype))
        if not valid_name(name):
            return NXDOMAIN
        key = name.lower().rstrip(".")
        records = self.zone.get(key)
        if records is None:
            return NXDOMAIN
        out: list[str] = []
        for rtype, value in records:
            if rtype == "TIMEOUT":  # times out unless records of the type came before it
                if out:
                    break
                raise DnsTemporary(f"{name}: timeout")
            if value == "TIMEOUT" and rtype == rdtype:
                raise DnsTemporary(f"{name}/{rdtype}: timeout")
            if rtype == "CNAME" and rdtype != "CNAME" and depth < 8:
                return await self.query(str(value), rdtype, depth + 1)
            if rtype != rdtype or value == "NONE":
                continue
            if rdtype == "TXT":
                strings = value if isinstance(value, list) else [value]
                if strings == ["NONE"]:
                    continue
                out.append("".join(str(s) for s in strings))
            elif rdtype == "MX":
                out.append((str(value[1]) or ".").lower().rstrip(".") or ".")
            else:
                out.append(str(value).lower().rstrip(".") if rdtype == "PTR" else str(value))
        return Answer(tuple(out)) if out else VOID


class WireZone:
    """A dnslib resolver answering from a ``ZoneLookup`` over real DNS messages, so the suite
    can also run through ``DnsLookup`` and dnspython: records → NOERROR answers owned by the
    name asked (CNAMEs already followed), a known name without records of the type → NOERROR
    with no answer, an unknown one → NXDOMAIN, a timeout → SERVFAIL."""

    def __init__(self) -> None:
        self.zone = ZoneLookup({})

    def resolve(self, request: Any, handler: object) -> Any:
        import asyncio

        import dnslib

        reply = request.reply()
        # the labels as sent: str() would escape a space or a '%' the suite's names hold
        qname = b".".join(request.q.qname.label).decode("latin-1")
        qtype = dnslib.QTYPE[request.q.qtype]
        try:
            answer = asyncio.run(self.zone.query(qname, qtype))
        except DnsTemporary:
            reply.header.rcode = dnslib.RCODE.SERVFAIL
            return reply
        except ValueError:
            answer = VOID
        if answer.nxdomain:
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
            return reply
        for i, value in enumerate(answer.records):
            if qtype == "TXT":
                raw = value.encode("latin-1")
                chunks = [raw[j:j + 255] for j in range(0, len(raw), 255)] or [b""]
                rdata: Any = dnslib.TXT(chunks)
            elif qtype == "A":
                rdata = dnslib.A(value)
            elif qtype == "AAAA":
                rdata = dnslib.AAAA(value)
            elif qtype == "MX":
                rdata = dnslib.MX(value if value != "." else ".", i)
            elif qtype == "PTR":
                rdata = dnslib.PTR(value)
            else:
                continue
            reply.add_answer(dnslib.RR(request.q.qname, request.q.qtype, rdata=rdata, ttl=60))
        return reply
