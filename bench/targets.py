"""The targets of issue 20, judged from a run's summary rows: one row per target with what was
measured, the threshold and PASS or FAIL, printed after the table and kept in the JSON.

Ratios are the summary's (above 1 = Postroom better: throughput P/R, times R/P):
- SMTP end to end, delivered messages per second: at least 1.5× Postfix → Dovecot LMTP in
  every cell;
- the 100,000-message mailbox: every operation at least 1.0× Dovecot;
- every IMAP workload: at least 1.3× Dovecot's operations per second (the mixed one) or
  sessions per second (the session loop), and every command's p50 at least 1.0× Dovecot's;
- idle IMAP connections: at most 20 KiB of server memory each.
A workload the run left out gives no row.
"""

from __future__ import annotations

from typing import Any

SMTP_RATIO = 1.5
BIG_RATIO = 1.0
IMAP_RATIO = 1.3
P50_RATIO = 1.0
IDLE_KIB = 20.0


def _row(target: str, measured: str, threshold: str, met: bool) -> dict[str, Any]:
    return {"target": target, "measured": measured, "threshold": threshold,
            "result": "PASS" if met else "FAIL"}


def judge(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in summary:
        w, m, ratio = r["workload"], r["measure"], float(r["ratio"])
        if w.startswith("smtp ") and m == "delivered msg/s":
            out.append(_row(f"{w}: delivered msg/s", f"{ratio:.2f}×", f"≥ {SMTP_RATIO}×",
                            ratio >= SMTP_RATIO))
        elif w.endswith("-msg mailbox"):
            out.append(_row(f"{w}: {m}", f"{ratio:.2f}×", f"≥ {BIG_RATIO}×",
                            ratio >= BIG_RATIO))
        elif w.startswith("session loop") and m == "sessions/s":
            out.append(_row(f"{w}: sessions/s", f"{ratio:.2f}×", f"≥ {IMAP_RATIO}×",
                            ratio >= IMAP_RATIO))
        elif w.startswith("mixed") and m == "operations/s":
            out.append(_row(f"{w}: operations/s", f"{ratio:.2f}×", f"≥ {IMAP_RATIO}×",
                            ratio >= IMAP_RATIO))
        elif w.startswith("IDLE") and m == "KiB per idle connection":
            kib = float(r["postroom"])
            out.append(_row(f"{w}: KiB each", f"{kib:.1f}", f"≤ {IDLE_KIB:g}", kib <= IDLE_KIB))
    # every command's p50, one row per workload naming the commands below the reference
    workloads = dict.fromkeys(r["workload"] for r in summary if r["measure"].endswith(" p50 (ms)")
                              and r["workload"].startswith(("mixed", "session loop")))
    for w in workloads:
        p50 = {r["measure"].removesuffix(" p50 (ms)"): float(r["ratio"]) for r in summary
               if r["workload"] == w and r["measure"].endswith(" p50 (ms)")}
        slow = [f"{cmd} {ratio:.2f}×" for cmd, ratio in p50.items() if ratio < P50_RATIO]
        out.append(_row(f"{w}: every command's p50",
                        "all ≥ 1.0×" if not slow else "below: " + ", ".join(slow),
                        f"≥ {P50_RATIO}× each", not slow))
    return out


def print_targets(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    width = max(len(r["target"]) for r in rows)
    print(f"\n{'target':<{width}}  {'result':<6}  {'threshold':<12}  measured")
    for r in rows:
        print(f"{r['target']:<{width}}  {r['result']:<6}  {r['threshold']:<12}  {r['measured']}")
