"""Where the server memory of a device holding an ActiveSync Ping goes (issue 25).

``bench/eas.py`` gives one figure (PSS delta per waiting device); this tool splits it by
measuring the same server in several states, each on a fresh ``postroom serve``:

- ``tls-idle``: N TLS connections to the web port, handshake done, no request sent;
- ``tls-ping``: N TLS connections each holding a Ping (as bench/eas.py);
- ``tcp-idle`` and ``tcp-ping``: the same on plain TCP (``web.https.tls=none``);

For each: the server's PSS before (one device has pinged once: the code paths are warm) and
with the N connections in place, divided by N; glibc's malloc counters (``mallinfo2``: the C
heap, OpenSSL's included) and Python's own (``sys._debugmallocstats`` is too verbose; the
probe reads ``tracemalloc`` when ``--trace`` is given, which costs memory itself and is run
apart from the PSS figures). Kernel socket buffers are not in PSS and are not counted.

The probe is a thread started in the server process by running it through this module
(``python -m bench.eas_memory serve-probe <postroom serve args>``): it answers a request file
in the data directory with a JSON report. Bench tooling only: nothing in ``postroom/``.

    .venv/bin/python -m bench.eas_memory [--devices 10] [--trace] [tls-ping tls-idle ...]
    .venv/bin/python -m bench.eas_memory openssl   # OpenSSL's share alone, no server
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

from bench.eas import CHECKOUT, EasPostroom, Phone, _inbox, _request, _ssl, setup
from bench.eas import _ping as ping_body
from bench.reference import wait_port
from postroom.protocols.eas.element import E

SCENARIOS = ("tcp-idle", "tls-idle", "tcp-ping", "tls-ping")
REQUEST = "probe.request"
TRACE_FRAMES = 12


# -- the probe, inside the server process ------------------------------------------------------
class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _mallinfo() -> dict[str, int]:
    """glibc's heap: ``uordblks`` in use from the arenas, ``hblkhd`` in mmapped blocks."""
    libc = ctypes.CDLL(None)
    fn = libc.mallinfo2
    fn.restype = _MallInfo2
    info = fn()
    return {"arena": info.arena, "in_use": info.uordblks, "free": info.fordblks,
            "mmapped": info.hblkhd}


def _pymalloc() -> dict[str, int]:
    """pymalloc's arenas (``sys._debugmallocstats``, which writes to fd 2: redirected for the
    moment it takes). Blocks in use vs. the arenas kept: what fragmentation costs."""
    with tempfile.TemporaryFile("w+") as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read()
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition("=")
        digits = value.strip().replace(",", "")
        if name.startswith("# arenas allocated current"):
            out["arenas"] = int(digits)
        elif name.startswith("# bytes in allocated blocks"):
            out["blocks_in_use"] = int(digits)
        elif name.startswith("# bytes in available blocks"):
            out["blocks_free"] = int(digits)
        elif "unused pools" in name:
            out["pools_unused"] = int(digits)
    return out


def _report(trim: bool, base: tracemalloc.Snapshot | None) -> tuple[dict[str, Any],
                                                                     tracemalloc.Snapshot | None]:
    gc.collect()
    if trim:  # free heap pages back to the kernel: what is left in PSS is in use
        ctypes.CDLL(None).malloc_trim(0)
    types = Counter(type(o).__qualname__ for o in gc.get_objects())
    out: dict[str, Any] = {"waits": types.get("_Wait", 0), "mallinfo": _mallinfo(),
                           "pymalloc": _pymalloc(), "types": dict(types.most_common(60)),
                           "gc_objects": sum(types.values())}
    snap = None
    if tracemalloc.is_tracing():
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)])
        out["traced"] = tracemalloc.get_traced_memory()[0]
        if base is not None:
            for key in ("filename", "lineno", "traceback"):
                stats = snap.compare_to(base, key)[:40]
                out[f"top_{key}"] = [
                    {"kib": round(s.size_diff / 1024, 1), "count": s.count_diff,
                     "where": [f"{f.filename.rsplit('site-packages/', 1)[-1]}:{f.lineno}"
                               for f in s.traceback][:TRACE_FRAMES if key == "traceback" else 1]}
                    for s in stats]
    return out, snap


def _probe_thread(data_dir: Path) -> None:
    """Answer ``probe.request`` files: each names the report file to write (and ``trim``
    after it: call glibc's ``malloc_trim`` first)."""
    base: tracemalloc.Snapshot | None = None
    request = data_dir / REQUEST
    while True:
        time.sleep(0.2)
        if not request.exists():
            continue
        target, _, trim = request.read_text().strip().partition(" ")
        request.unlink()
        report, snap = _report(trim == "trim", base)
        if base is None:
            base = snap
        Path(target).write_text(json.dumps(report, indent=1))


def serve_probe(args: list[str]) -> int:
    """``postroom serve`` with the probe thread (and tracemalloc when BENCH_TRACE is set)."""
    if os.environ.get("BENCH_TRACE"):
        tracemalloc.start(TRACE_FRAMES)
    data_dir = Path(args[args.index("--data-dir") + 1])
    threading.Thread(target=_probe_thread, args=(data_dir,), daemon=True).start()
    from postroom.cli.main import main as postroom_main
    return int(postroom_main(args))


# -- the client ------------------------------------------------------------------------------
class ProbedPostroom(EasPostroom):
    def __init__(self, root: Path, tls: bool, trace: bool) -> None:
        super().__init__(root)
        self.tls, self.trace, self.reports = tls, trace, 0

    def overrides(self) -> list[str]:
        extra = [f"web.https.tls={'implicit' if self.tls else 'none'}"]
        from postroom.config_sieve import SieveConfig
        if "managesieve" in SieveConfig.__struct_fields__:  # its fixed port may be taken
            extra.append("sieve.managesieve.enabled=false")
        return [*super().overrides(), *extra]

    def start(self) -> None:
        args = [sys.executable, "-m", "bench.eas_memory", "serve-probe", "serve",
                "--data-dir", str(self.root / "data")]
        for item in self.overrides():
            args += ["--set", item]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if self.trace:
            env["BENCH_TRACE"] = "1"
        log = (self.root / "serve.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, cwd=CHECKOUT, env=env)
        try:  # tracemalloc makes the start slow
            wait_port(self.web_port, timeout=300 if self.trace else 60)
        except TimeoutError:
            print((self.root / "serve.log").read_text()[-3000:], file=sys.stderr)
            raise

    def probe(self, trim: bool = False) -> dict[str, Any]:
        self.reports += 1
        target = self.root / f"report-{self.reports}.json"
        (self.root / "data" / REQUEST).write_text(f"{target}{' trim' if trim else ''}")
        deadline = time.monotonic() + 300
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.2)  # the write is not atomic; the report is small
        report: dict[str, Any] = json.loads(target.read_text())
        report["pss_kib"] = self.pss_kib()
        report["uss_kib"] = self.uss_kib()
        return report

    def uss_kib(self) -> int:
        """Private memory (USS): unlike PSS, not moved by other processes that start or stop
        mapping the same libraries while the bench runs (pytest, the client)."""
        if self.proc is None:
            return 0
        total = 0
        for line in Path(f"/proc/{self.proc.pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
        return total


async def _open(port: int, tls: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    ctx: ssl.SSLContext | None = _ssl() if tls else None
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=ctx), 60)


async def run_scenario(pr: ProbedPostroom, users: list[str], devices: int,
                       scenario: str, burst: bool = False) -> dict[str, Any]:
    tls = scenario.startswith("tls")
    port = pr.web_port
    phones = [Phone(u, f"M{n}x{d}") for n, u in enumerate(users) for d in range(devices)]
    inbox: dict[str, str] = {}
    for user in users:
        probe = Phone(user, "Probe")
        if not tls:
            probe.reader, probe.writer = await _open(port, False)
        _, root = await _request(probe, port, "FolderSync", E(
            "FolderHierarchy", "FolderSync", E("FolderHierarchy", "SyncKey", text="0")), 30)
        inbox[user] = _inbox(root)
        assert probe.writer is not None
        probe.writer.close()
    warm = Phone(users[0], "Warm")
    if not tls:
        warm.reader, warm.writer = await _open(port, False)
    await _request(warm, port, "Ping", ping_body(inbox[users[0]], 60), 90)
    await asyncio.sleep(2)
    before = await asyncio.to_thread(pr.probe)
    started = time.monotonic()
    n = len(phones)
    # handshakes 50 at a time (phones arriving over a while), or all at once (--burst: as
    # bench/eas.py does, as after a restart): the heap's high-water mark differs
    sem = asyncio.Semaphore(n if burst else 50)


    async def connect(p: Phone) -> None:
        async with sem:
            p.reader, p.writer = await _open(port, tls)
    await asyncio.gather(*(connect(p) for p in phones))
    waits = []
    if scenario.endswith("ping"):
        waits = [asyncio.ensure_future(_request(p, port, "Ping", ping_body(inbox[p.user], 3000),
                                                600)) for p in phones]
        deadline = time.monotonic() + 300
        while any(p.sent < started for p in phones) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
    await asyncio.sleep(5.0)
    during = await asyncio.to_thread(pr.probe)
    deadline = time.monotonic() + 600  # tracemalloc slows the server: wait for every Ping
    while waits and during["waits"] < n and time.monotonic() < deadline:
        await asyncio.sleep(10)
        during = await asyncio.to_thread(pr.probe)
    trimmed = await asyncio.to_thread(pr.probe, True)
    early = sum(1 for w in waits if w.done())
    for w in waits:
        w.cancel()
    for p in phones:
        if p.writer is not None:
            p.writer.close()
    mb, md = before["mallinfo"], during["mallinfo"]
    result: dict[str, Any] = {
        "scenario": scenario, "connections": n, "burst": burst, "answered_early": early,
        "waiting": during["waits"],
        "pss_before_kib": before["pss_kib"], "pss_during_kib": during["pss_kib"],
        "pss_kib_per_connection": round((during["pss_kib"] - before["pss_kib"]) / n, 2),
        "uss_kib_per_connection": round((during["uss_kib"] - before["uss_kib"]) / n, 2),
        # free C-heap pages still resident (glibc keeps them for reuse): an upper bound of
        # what heap fragmentation adds, for the whole process, not per connection only
        "pss_released_by_malloc_trim_kib": during["pss_kib"] - trimmed["pss_kib"],
        "malloc_in_use_kib_per_connection": round(
            (md["in_use"] + md["mmapped"] - mb["in_use"] - mb["mmapped"]) / 1024 / n, 2),
        "pymalloc_kib_per_connection": {
            k: round((during["pymalloc"][k] - before["pymalloc"][k])
                     * (1024 if k == "arenas" else 1 / 1024) / n, 2)  # 1 MiB arenas
            for k in during["pymalloc"]},
        "gc_objects_per_connection": round((during["gc_objects"] - before["gc_objects"]) / n, 1),
        "types_per_connection": {
            k: round((v - before["types"].get(k, 0)) / n, 2)
            for k, v in during["types"].items() if v - before["types"].get(k, 0) >= n // 2},
    }
    if "traced" in during:
        result["traced_kib_per_connection"] = round(
            (during["traced"] - before["traced"]) / 1024 / n, 2)
        for key in ("top_filename", "top_lineno", "top_traceback"):
            result[key] = during.get(key, [])
    return result


def openssl_floor(count: int = 2000) -> dict[str, float]:
    """OpenSSL's share of one server-side TLS connection, apart from any server: ``count``
    handshakes over memory BIOs with Postroom's server context (the self-signed P-256
    certificate ``postroom serve`` makes), a request and an answer through each, the client
    sides freed; glibc's heap in use before and after, per connection. The fresh SSL object,
    and what the handshake leaves (keys, the session, the BIOs' grown buffers) after it."""
    from postroom.net.tls import ensure_self_signed, server_context
    with tempfile.TemporaryDirectory(prefix="bench-eas-tls-") as tmp:
        cert, key = ensure_self_signed(Path(tmp), "localhost")
        server = server_context(cert, key)
    client = _ssl()

    def heap() -> int:
        gc.collect()
        info = _mallinfo()
        return info["in_use"] + info["mmapped"]
    start = heap()
    bios = [(ssl.MemoryBIO(), ssl.MemoryBIO()) for _ in range(count)]
    objects = [server.wrap_bio(i, o, server_side=True) for i, o in bios]
    fresh = heap()
    version = ""
    for conn, (s_in, s_out) in zip(objects, bios, strict=True):
        c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        peer = client.wrap_bio(c_in, c_out, server_hostname="localhost")
        for _ in range(10):  # a handshake takes two or three flights
            for side in (peer, conn):
                with contextlib.suppress(ssl.SSLWantReadError):
                    side.do_handshake()
            s_in.write(c_out.read())
            c_in.write(s_out.read())
            if conn.version() is not None and peer.version() is not None:
                break
        peer.write(b"x" * 400)  # a Ping's request, and its answer
        s_in.write(c_out.read())
        conn.read(64 << 10)
        conn.write(b"y" * 200)
        c_in.write(s_out.read())
        peer.read(64 << 10)
        version = f"{conn.version()} {(conn.cipher() or ('',))[0]}"
        del peer, c_in, c_out
    done = heap()
    return {"connections": count, "tls": version,  # type: ignore[dict-item]
            "kib_ssl_object_fresh": round((fresh - start) / 1024 / count, 2),
            "kib_after_handshake_and_request": round((done - start) / 1024 / count, 2)}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve-probe":
        raise SystemExit(serve_probe(sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "openssl":
        print(json.dumps(openssl_floor(), indent=1))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--devices", type=int, default=10, help="devices per user")
    parser.add_argument("--burst", action="store_true",
                        help="every connection at once (default: 50 handshakes at a time)")
    parser.add_argument("--trace", action="store_true",
                        help="tracemalloc in the server (its own cost inflates PSS)")
    args = parser.parse_args()
    results = []
    for scenario in args.scenarios:
        assert scenario in SCENARIOS, scenario
        with tempfile.TemporaryDirectory(prefix="bench-eas-mem-") as tmp:
            base, users = setup(Path(tmp), args.users, 0)
            pr = ProbedPostroom(base.root, scenario.startswith("tls"), args.trace)
            pr.start()
            try:
                result = asyncio.run(run_scenario(pr, users, args.devices, scenario,
                                                  args.burst))
            finally:
                pr.stop()
        print(json.dumps({k: v for k, v in result.items() if not k.startswith("top_")},
                         indent=1), flush=True)
        results.append(result)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = CHECKOUT / "bench" / "results" / f"eas-memory-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"when": stamp, "trace": args.trace, "results": results},
                              indent=1))
    print(f"written to {out.relative_to(CHECKOUT)}")


if __name__ == "__main__":
    main()
