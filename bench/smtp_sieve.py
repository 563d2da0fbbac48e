"""SMTP throughput with a 20-rule Sieve script active for every recipient, against the same
run without scripts (issue target: at least 0.9×).

``python -m bench.smtp_sieve [--quick] [--rounds 5] [--messages 1000]``: per round, two
fresh ``postroom serve`` processes one after the other (alternating which goes first), each on
a new data directory holding the sink account; in the "sieve" run the sink has the script
below active. The load is the SMTP bench's (bench/smtp_load.py: Postfix's ``smtp-source``, a
new connection per message, timed until IMAP STATUS shows every message in INBOX), in the
cells given by ``--sizes`` and ``--clients``. None of the 20 rules matches the bench's mail,
so every test of every rule is evaluated and the message is kept: the costliest case for a
script of header tests, and the common one (most mail goes to INBOX). Besides throughput
(the median of each round's pair of runs, which ran back to back), the server's CPU time per
message is reported: on a machine busy with other work it is the steadier measure. Results
go to ``bench/results/smtp-sieve-<time>.json``; docs/sieve.md records them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import data, smtp_load
from bench.postroom_server import Postroom
from postroom.app import Services
from postroom.core.principal import Principal

# Twenty rules of the kinds users write (list sorting, senders, subjects, sizes, flags),
# none of which matches the bench's messages.
SCRIPT = """require ["fileinto", "imap4flags", "envelope", "relational", "subaddress",
         "comparator-i;ascii-numeric", "copy", "mailbox", "regex"];
if header :contains "list-id" "announce.lists.example.org" { fileinto "Lists/announce"; stop; }
if header :contains "list-id" "dev.lists.example.org" { fileinto "Lists/dev"; stop; }
if header :is "x-mailing-list" "users@example.org" { fileinto "Lists/users"; stop; }
if address :domain :is "from" "newsletters.example.com" { fileinto "News"; stop; }
if address :is "from" ["boss@example.com", "ceo@example.com"] { addflag "\\\\Flagged"; }
if header :contains "subject" ["[SPAM]", "***SPAM***"] { fileinto "Junk"; stop; }
if header :matches "subject" "Invoice *" { fileinto "Finance/Invoices"; stop; }
if header :contains "subject" "receipt" { fileinto :copy "Finance/Receipts"; }
if envelope :domain :is "from" "bounces.example.net" { fileinto "Bounces"; stop; }
if exists "x-github-reason" { fileinto "Dev/GitHub"; stop; }
if header :contains "from" "notifications@" { fileinto "Notifications"; stop; }
if size :over 20M { fileinto "Large"; stop; }
if header :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "8" { discard; stop; }
if address :detail "to" "shopping" { fileinto "Shopping"; stop; }
if header :contains "precedence" ["bulk", "junk"] { fileinto "Bulk"; stop; }
if allof (header :contains "from" "calendar", header :contains "subject" "Invitation:")
    { fileinto "Invitations"; stop; }
if anyof (header :is "x-priority" "1", header :is "importance" "high") { addflag "\\\\Flagged"; }
if header :contains "to" "team-all@example.com" { fileinto "Team"; stop; }
if not exists "message-id" { fileinto "Suspicious"; stop; }
if header :regex "subject" "^\\\\[ticket #[0-9]+\\\\]" { fileinto "Tickets"; stop; }
"""


class SievePostroom(Postroom):
    """A bench Postroom, the sink account with or without the script."""

    def __init__(self, root: Path, script: bool) -> None:
        super().__init__(root)
        self.script = script

    def fill(self) -> None:
        async def run(services: Services) -> None:
            await data.fill_postroom(services, 0, 0, 0)
            if self.script:
                rec = await services.directory.require_account(data.SINK)
                who = Principal(rec.id, rec.address, rec.domain_id)
                await services.sieve_scripts.put(who, "bench", SCRIPT)
                await services.sieve_scripts.activate(who, "bench")
        self.populate(run)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(root: Path, script: bool, cells: list[tuple[int, int]], messages: int,
            ) -> dict[str, Any]:
    """Each cell's result, with the server's CPU time per message (``cpu_us``): a measure
    that other work on the machine disturbs far less than throughput."""
    server = SievePostroom(root, script)
    server.fill()
    server.start()
    assert server.proc is not None
    try:
        out = {}
        for size, sessions in cells:
            before = cpu_seconds(server.proc.pid)
            result = asyncio.run(smtp_load.cell(
                server.smtp_port, server.imap_port, data.SINK, data.password(data.SINK),
                messages, size, sessions))
            result["cpu_us"] = (cpu_seconds(server.proc.pid) - before) / messages * 1e6
            out[f"{size // 1024}KB/{sessions}"] = result
        return out
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 messages per cell")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--sizes", default="4096,102400")
    parser.add_argument("--clients", default="10,50")
    args = parser.parse_args()
    if not smtp_load.smtp_source_available():
        raise SystemExit("bench: smtp-source (Debian's postfix package) is missing")
    messages = 300 if args.quick else args.messages
    cells = [(int(s), int(c)) for s in args.sizes.split(",") for c in args.clients.split(",")]
    base = Path(tempfile.mkdtemp(prefix="postroom-bench-sieve-"))
    rounds: list[dict[str, Any]] = []
    try:
        for r in range(args.rounds):
            this: dict[str, Any] = {}
            for mode in data.in_order(r, "plain", "sieve"):
                this[mode] = one_run(base / f"{mode}-{r}", mode == "sieve", cells, messages)
                print(f"bench: sieve round {r + 1} {mode} done", flush=True)
            rounds.append(this)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    summary = []
    for key in rounds[0]["plain"]:
        plain = statistics.median(x["plain"][key]["delivered_per_s"] for x in rounds)
        sieve = statistics.median(x["sieve"][key]["delivered_per_s"] for x in rounds)
        # each round's two runs ran back to back: their ratio is less disturbed by what
        # else the machine did than the ratio of the medians
        paired = statistics.median(x["sieve"][key]["delivered_per_s"]
                                   / x["plain"][key]["delivered_per_s"] for x in rounds)
        cpu_plain = statistics.median(x["plain"][key]["cpu_us"] for x in rounds)
        cpu_sieve = statistics.median(x["sieve"][key]["cpu_us"] for x in rounds)
        summary.append({"cell": key, "plain_msg_s": plain, "sieve_msg_s": sieve,
                        "ratio": sieve / plain if plain else 0.0, "paired_ratio": paired,
                        "plain_cpu_us": cpu_plain, "sieve_cpu_us": cpu_sieve,
                        "cpu_ratio": cpu_plain / cpu_sieve if cpu_sieve else 0.0})
        print(f"{key:>10}: without scripts {plain:7.1f} msg/s, with the 20-rule script "
              f"{sieve:7.1f} msg/s, ratio {sieve / plain if plain else 0:.3f} (paired "
              f"{paired:.3f}); server CPU per message {cpu_plain:.0f} vs {cpu_sieve:.0f} us, "
              f"ratio {cpu_plain / cpu_sieve if cpu_sieve else 0:.3f}")
    out = Path(__file__).parent / "results" / \
        f"smtp-sieve-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps({"args": vars(args), "messages": messages, "rounds": rounds,
                               "summary": summary}, indent=1))
    print(f"bench: results in {out}")


if __name__ == "__main__":
    main()
