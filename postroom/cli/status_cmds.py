"""``postroom status``: this installation at a glance, and the filter daemons' own word.

Minimal for now: the version, the data directory, the checks in the pipeline, and for spamd
and clamd whether they answer, with clamd's engine and signature version from its VERSION
reply (services/filterstatus.py). It reads the configuration only, so it works whether or not
the server is running.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from postroom import __version__
from postroom.cli.context import load_config, run_async
from postroom.services.filterstatus import filter_status


def status_cmd(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    daemons = run_async(filter_status(cfg))
    if args.json:
        print(json.dumps({"version": __version__, "data_dir": str(cfg.data_path),
                          "checks": list(cfg.pipeline.checks),
                          "daemons": [asdict(d) for d in daemons]}, indent=2))
        return 0
    print(f"postroom {__version__}")
    print(f"data directory  {cfg.data_path}")
    print(f"checks          {', '.join(cfg.pipeline.checks)}")
    for d in daemons:
        if not d.enabled and d.state != "ok":  # not configured and not running: nothing wrong
            print(f"{d.name:<15} not used (add '{d.check}' to pipeline.checks once it runs "
                  f"at {d.address})")
            continue
        use = "in use" if d.enabled else f"not in pipeline.checks ('{d.check}')"
        print(f"{d.name:<15} {d.state} at {d.address}, {use}")
        if d.engine:
            print(f"  engine        {d.engine}")
            print(f"  signatures    {d.signatures}")
        if d.detail:
            print(f"  {'answer' if d.state == 'ok' else 'error':<13} {d.detail}")
    return 0


def add_status_parser(cmd: Any, add_common: Any) -> None:
    st = cmd("status", "Show the version, the data directory, the checks, and whether spamd "
             "and clamd answer (with clamd's engine and signature version).")
    add_common(st)
    st.add_argument("--json", action="store_true", help="print JSON")
    st.set_defaults(func=status_cmd)
