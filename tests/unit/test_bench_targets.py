"""The bench's target judgement (bench/targets.py): a pure function of the summary rows."""

from __future__ import annotations

from typing import Any

from bench.targets import judge


def _r(workload: str, measure: str, ratio: float, postroom: float = 0.0) -> dict[str, Any]:
    return {"workload": workload, "measure": measure, "ratio": ratio, "postroom": postroom,
            "reference": 0.0, "reference_name": "x"}


def test_each_target_passes_or_fails_at_its_threshold() -> None:
    rows = judge([
        _r("smtp 4 KB, 10 conn", "delivered msg/s", 1.5),
        _r("smtp 100 KB, 10 conn", "delivered msg/s", 1.49),
        _r("smtp 100 KB, 10 conn", "accepted msg/s", 0.1),  # not a target
        _r("100,000-msg mailbox", "UID SORT (SUBJECT) (ms)", 0.99),
        _r("mixed, 20 clients", "operations/s", 1.3),
        _r("mixed, 20 clients", "LOGIN p50 (ms)", 2.0),
        _r("mixed, 20 clients", "SELECT p50 (ms)", 0.5),
        _r("IDLE, 10,000 connections", "KiB per idle connection", 49.0, postroom=10.4),
    ])
    got = {r["target"]: (r["result"], r["measured"]) for r in rows}
    assert got == {
        "smtp 4 KB, 10 conn: delivered msg/s": ("PASS", "1.50×"),
        "smtp 100 KB, 10 conn: delivered msg/s": ("FAIL", "1.49×"),
        "100,000-msg mailbox: UID SORT (SUBJECT) (ms)": ("FAIL", "0.99×"),
        "mixed, 20 clients: operations/s": ("PASS", "1.30×"),
        "mixed, 20 clients: every command's p50": ("FAIL", "below: SELECT 0.50×"),
        "IDLE, 10,000 connections: KiB each": ("PASS", "10.4"),
    }
