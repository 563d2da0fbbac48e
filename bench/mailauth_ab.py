"""The SMTP cell with mail authentication on and off: the issue's "at least 0.9×" comparison.

    python -m bench.mailauth_ab [--messages N] [--rounds R] [--size BYTES] [--sessions C]

Postfix's ``smtp-source`` sends to a fresh Postroom (bench/postroom_server.py) whose pipeline
has the ``mailauth`` check (SPF for HELO and MAIL FROM, DKIM, ARC, DMARC, with
``skip_networks`` emptied so the loopback client is judged) or not; the sender's SPF and DMARC
records are on a loopback DNS server (dnslib, in this process). smtp-source does not sign, so
DKIM finds no signature: this measures SPF, DMARC and the Authentication-Results path, not
dkimpy (see bench/mailauth_cost.py for that). Rounds alternate the order of the two servers;
medians are printed with their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
from pathlib import Path
from tempfile import mkdtemp

from bench import data, smtp_load
from bench.postroom_server import Postroom
from postroom.app import Services
from tests.support.authmail import AuthDns


class Authed(Postroom):
    def __init__(self, root: Path, dns_port: int, on: bool) -> None:
        super().__init__(root)
        self.extra = ['pipeline.checks=["size", "smuggling", "loop", "sender"]'] if not on \
            else ["mailauth.skip_networks=[]", f'mailauth.dns_servers=["127.0.0.1:{dns_port}"]']

    def overrides(self) -> list[str]:
        return [*super().overrides(), *self.extra]


def fresh(root: Path, dns_port: int, on: bool) -> Authed:
    server = Authed(root, dns_port, on)

    async def fill(services: Services) -> None:
        await data.fill_postroom(services, 0, 0, 0)
    server.populate(fill)
    server.start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--sessions", type=int, default=10)
    args = parser.parse_args()
    if not smtp_load.smtp_source_available():
        raise SystemExit("bench: smtp-source (Debian's postfix package) is missing")
    dns = AuthDns()
    domain = smtp_load.SENDER.rpartition("@")[2]
    dns.txt(domain, "v=spf1 ip4:127.0.0.1 -all")
    dns.txt(f"_dmarc.{domain}", "v=DMARC1; p=none")
    dns.txt("client.bench.test", "v=spf1 ip4:127.0.0.1 -all")  # the HELO name
    root = Path(mkdtemp(prefix="mailauth-ab-"))
    results: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    try:
        for r in range(args.rounds):
            for name in data.in_order(r, "off", "on"):
                server = fresh(root / f"{name}-{r}", dns.port, name == "on")
                try:
                    # steady state: what a server does once, at its first message (parsing
                    # the public suffix list, filling the DNS cache), is not timed
                    asyncio.run(smtp_load.cell(server.smtp_port, server.imap_port, data.SINK,
                                               data.password(data.SINK), 50, args.size, 5))
                    results[name].append(asyncio.run(smtp_load.cell(
                        server.smtp_port, server.imap_port, data.SINK,
                        data.password(data.SINK), args.messages, args.size, args.sessions)))
                finally:
                    server.stop()
                print(f"round {r + 1} {name}: "
                      f"{results[name][-1]['delivered_per_s']:.1f} delivered/s", flush=True)
    finally:
        dns.stop()
        shutil.rmtree(root, ignore_errors=True)
    for measure in ("accepted_per_s", "delivered_per_s"):
        off = statistics.median(x[measure] for x in results["off"])
        on = statistics.median(x[measure] for x in results["on"])
        print(f"{measure.replace('_per_s', ' msg/s')}: off {off:.1f}, on {on:.1f}, "
              f"ratio {on / off:.2f}")


if __name__ == "__main__":
    main()
