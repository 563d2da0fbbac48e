"""Where Postroom's time goes under one bench workload: py-spy samples the server process while
the workload runs, and the stacks are summarised by thread, by function (self time) and by
Postroom function (inclusive time).

    python -m bench.profile big        # the 100,000-message mailbox operations
    python -m bench.profile mixed      # the mixed IMAP workload, 20 clients
    python -m bench.profile session    # the IMAPS session loop, 20 clients
    python -m bench.profile smtp       # 100 KB messages over 50 connections until delivered
    python -m bench.profile pop3       # 20 clients RETR their 1,000-message mailboxes
    python -m bench.profile idle       # 10,000 clients log in and IDLE

Only Postroom runs (the reference needs no profile: the profile explains a ratio the side-by-side
run measured). py-spy is installed into the virtualenv on first use; it attaches with ptrace, so
run as root or with ``kernel.yama.ptrace_scope`` = 0. The raw stacks and the summary are written
to ``bench/results/profile-<workload>-<UTC time>.{raw,txt}`` (the raw file is in the collapsed
format that flame-graph tools read).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import data, idle_load, imap_load, pop3_load, smtp_load
from bench.postroom_server import Postroom
from postroom.app import Services

RESULTS = Path(__file__).parent / "results"
WORKLOADS = ("big", "mixed", "session", "smtp", "pop3", "idle")
# Frames every request passes through: their inclusive share says nothing.
_PLUMBING = frozenset({"main", "serve_cmd", "run_async", "run_server", "TcpListener._run",
                       "ImapService.serve", "SmtpService.serve", "Pop3Service.serve",
                       "Session.run", "Session.execute", "Session._run_handler",
                       "uid_command.<locals>.wrap.<locals>.with_uid",
                       "uid_command.<locals>.wrap.<locals>.plain"})
# Leaves where py-spy catches a thread that is really waiting (an idle pool thread in its
# queue, the event loop in epoll): reported apart, left out of the percentages.
_WAITS = frozenset({("_worker", "concurrent/futures/thread.py"),
                    ("Runner.run", "asyncio/runners.py"),
                    ("Condition.wait", "threading.py")})
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.profile",
                                description=__doc__.split("\n")[0])
    p.add_argument("workload", choices=WORKLOADS)
    p.add_argument("--summarise", metavar="RAW", type=Path,
                   help="summarise an earlier run's raw stacks instead of running")
    p.add_argument("--seconds", type=float, default=20.0,
                   help="duration of the mixed and session workloads (default 20)")
    p.add_argument("--big", type=int, default=100_000, help="messages in the large mailbox")
    p.add_argument("--repeat", type=int, default=3,
                   help="times the large-mailbox operations run (default 3)")
    p.add_argument("--idle-connections", type=int, default=10_000)
    p.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=25, help="rows per table (default 25)")
    return p.parse_args(argv)


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or \
        shutil.which("py-spy")
    if found is None:
        print("bench: installing py-spy into the virtualenv", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
        found = str(Path(sys.executable).parent / "py-spy")
    return found


# -- the workloads, Postroom only ----------------------------------------------------------------
def fill_for(args: argparse.Namespace) -> Callable[[Services], Awaitable[None]]:
    async def fill(services: Services) -> None:
        w = args.workload
        await data.fill_postroom(services, 100 if w in ("mixed", "session") else 0, 100,
                                 args.big if w == "big" else 0)
        if w == "pop3":
            await pop3_load.fill_postroom(services, 20, 1000)
        if w == "idle":
            await idle_load.fill_postroom(services, idle_load.cheap_hashes(100))
    return fill


async def warm(args: argparse.Namespace, pr: Postroom) -> None:
    accounts = [data.account(i) for i in range(100)]
    addresses = {"big": [data.BIG], "mixed": accounts, "session": accounts}
    await imap_load.warm(pr.imap_port, addresses.get(args.workload, []))


async def workload(args: argparse.Namespace, pr: Postroom) -> dict[str, Any]:
    w = args.workload
    if w == "big":
        runs = [await imap_load.big_mailbox(pr.imap_port, args.big) for _ in range(args.repeat)]
        return {"runs": runs}
    if w == "mixed":
        return await imap_load.mixed(pr.imap_port, 20, args.seconds, 100, 100)
    if w == "session":
        return await imap_load.mixed(pr.imaps_port, 20, args.seconds, 100, 100, short=True)
    if w == "smtp":
        return await smtp_load.cell(pr.smtp_port, pr.imap_port, data.SINK,
                                    data.password(data.SINK), 500, 102400, 50)
    if w == "pop3":
        return await pop3_load.retr_all(pr.pop3_port, 20)
    return await idle_load.idle(pr.imap_port, args.idle_connections, 100, pr.pss_kib)


# -- the stacks ----------------------------------------------------------------------------------
def _short(text: str) -> tuple[str, str]:
    """(function, file) of one py-spy frame, ``func (path/file.py:123)``."""
    m = _FRAME.match(text)
    if m is None:
        return text, ""
    path = m.group("file")
    short = path.split("site-packages/")[-1].split("/lib/python3")[-1]
    if "postroom/" in path:
        short = "postroom/" + path.rsplit("postroom/", 1)[1]
    return m.group("func"), short


def summarise(raw: str, top: int) -> str:
    total = waiting = 0
    threads: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith(("thread", "process")) else "all"
        body = frames[1:] if thread != "all" else frames
        if body and body[0].startswith("process"):
            body = body[1:]
        if body and _short(body[-1]) in _WAITS:
            waiting += count
            continue
        total += count
        threads[_thread_name(thread, body)] += count
        if body:
            func, file = _short(body[-1])
            self_time[f"{func}  {file}"] += count
        seen = set()
        for text in body:
            func, file = _short(text)
            if file.startswith("postroom/") and func not in _PLUMBING:
                key = f"{func}  {file}"
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += count
    if not total:
        return "no samples (did py-spy attach?)\n"
    out = [f"{total:,} samples of busy threads (and {waiting:,} of threads waiting for work: "
           "idle pool threads, the event loop in epoll; left out below)\n", "By thread:"]
    out += [f"  {100 * n / total:5.1f} %  {name}" for name, n in threads.most_common(top)]
    out.append("\nSelf time (where the CPU was, or the fsync waited):")
    out += [f"  {100 * n / total:5.1f} %  {name}" for name, n in self_time.most_common(top)]
    out.append("\nInclusive time of Postroom functions (below the session loop):")
    out += [f"  {100 * n / total:5.1f} %  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(out) + "\n"


def _thread_name(thread: str, body: list[str]) -> str:
    """Name a thread by what it runs: the event loop, the SQLite writer, a worker pool."""
    text = ";".join(body[:12])
    if "MainThread" in thread or "run_forever" in text or "_run_once" in text or "asyncio" in text:
        return "event loop"
    if "sqlite" in text and "writer" in text.lower():
        return "SQLite writer"
    if "_worker" in text:
        return "worker pools (blob I/O, argon2, SQLite readers)"
    return thread


# -- main ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.summarise is not None:
        print(summarise(args.summarise.read_text(), args.top))
        return 0
    spy = py_spy()
    if args.workload == "smtp" and not smtp_load.smtp_source_available():
        raise SystemExit("bench: smtp-source (Debian's postfix package) is missing; "
                         "run make bench once or apt-get install postfix")
    root = Path(tempfile.mkdtemp(prefix="postroom-profile-"))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    RESULTS.mkdir(exist_ok=True)
    raw_path = RESULTS / f"profile-{args.workload}-{stamp}.raw"
    pr = Postroom(root / "postroom")
    try:
        pr.populate(fill_for(args))
        pr.start()
        asyncio.run(warm(args, pr))
        assert pr.proc is not None
        command = [spy, "record", "--pid", str(pr.proc.pid), "--rate", str(args.rate),
                   "--format", "raw", "--output", str(raw_path), "--threads", "--nonblocking"]
        recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
        time.sleep(1.0)  # let py-spy attach before the workload starts
        started = time.monotonic()
        result = asyncio.run(workload(args, pr))
        elapsed = time.monotonic() - started
        recorder.send_signal(signal.SIGINT)
        try:
            _, err = recorder.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            recorder.kill()
            _, err = recorder.communicate()
        if not raw_path.exists():
            raise SystemExit(f"bench: py-spy wrote nothing: {err.decode(errors='replace')}")
    finally:
        pr.stop()
        shutil.rmtree(root, ignore_errors=True)
    summary = (f"Postroom under bench workload '{args.workload}' for {elapsed:.1f} s, "
               f"py-spy at {args.rate} Hz\nworkload result: {_brief(result)}\n\n"
               + summarise(raw_path.read_text(), args.top))
    txt = raw_path.with_suffix(".txt")
    txt.write_text(summary)
    print(summary)
    print(f"written: {txt}")
    return 0


def _brief(result: dict[str, Any]) -> str:
    if "runs" in result:  # the large mailbox: the median of each operation
        import statistics
        ops = result["runs"][0].keys()
        return ", ".join(f"{op} {statistics.median(r[op] for r in result['runs']):.1f} ms"
                         for op in ops)
    keep = {k: v for k, v in result.items() if not isinstance(v, dict | list)}
    text = ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in keep.items()) or str(result)[:300]
    commands = result.get("commands")
    if isinstance(commands, dict):  # the IMAP workloads: each command's p50
        text += "\ncommand p50 (ms): " + ", ".join(
            f"{name} {c['p50_ms']:.1f}" for name, c in commands.items())
    return text


if __name__ == "__main__":
    raise SystemExit(main())
