"""``postroom cluster status`` and ``postroom cluster forget`` (docs/cluster.md).

``status`` reads the database alone, so it works from any machine with the configuration,
whether or not a node runs there: every node with its state (up, down, stopped), version,
schema version, host and process, heartbeat age, change-feed lag, the queue entries it has
claimed and the advisory locks it holds; then what needs attention. It exits with 1 when
something does (a node down, keys that differ, schema versions too far apart), so a
monitoring check can run it.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from postroom.app import Services
from postroom.cli.context import OPERATOR, emit, say

EPILOG = """examples:
  postroom cluster status              every node, its state, leases and lag
  postroom cluster status --json       the same for a monitoring system (exit 1: attention)
  postroom cluster forget mx3          drop a node taken out of service for good
"""


async def cluster_cmd(s: Services, args: argparse.Namespace) -> int:
    cfg = s.cfg
    if args.action == "forget":
        await s.cluster.forget(OPERATOR, args.node)
        say(f"node {args.node} forgotten")
        return 0
    status = await s.cluster.status()
    if args.json:
        print(json.dumps(asdict(status), indent=2))
        return 1 if status.problems else 0
    if not cfg.cluster.enabled:
        say("cluster mode is off in this configuration (cluster.enabled = false)")
    say(f"database schema version {status.schema_version}")
    rows: list[dict[str, Any]] = [
        {"node": n.name, "state": n.state, "version": n.version, "schema": n.schema_version,
         "host": f"{n.address} ({n.pid})", "heartbeat": f"{n.heartbeat_age:.0f} s ago",
         "feed lag": "" if n.lag_ms is None else f"{n.lag_ms:.1f} ms",
         "queue claims": n.queue_claims, "locks": n.locks} for n in status.nodes]
    emit(args, rows, ["node", "state", "version", "schema", "host", "heartbeat", "feed lag",
                      "queue claims", "locks"])
    say(f"MultiPOP accounts being collected: {status.multipop_leases}")
    if status.unowned_claims:
        say(f"queue entries claimed by no known node: {status.unowned_claims}")
    for problem in status.problems:
        say(f"attention: {problem}")
    return 1 if status.problems else 0


def add_cluster_parser(cmd: Any, leaf: Any, actions: Any, with_services: Any) -> None:
    top = cmd("cluster", "The nodes of a cluster on one PostgreSQL: their state, leases and "
                         "lag (status), or drop one taken out of service (forget).",
              epilog=EPILOG)
    g = actions(top)
    leaf(g, "status", "every node: state, version, heartbeat, feed lag, queue claims, locks "
                      "(exit 1 when something needs attention)", json_flag=True)
    forget = leaf(g, "forget", "remove a node's row (a node taken out of service; a running "
                               "node adds itself again at its next start)")
    forget.add_argument("node", help="the node's name (cluster.node)")
    for parser in g.choices.values():
        parser.set_defaults(func=with_services(cluster_cmd))
