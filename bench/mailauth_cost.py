"""What the ``mailauth`` check costs per message: SPF + DKIM + ARC + DMARC, in process.

    python -m bench.mailauth_cost [--messages N] [--size BYTES] [--concurrency N] [--no-cache]

Messages signed with dkimpy (RSA-2048) go through MAIL FROM, RCPT and DATA of the real pipeline
with only the ``mailauth`` check, its DNS answered by a loopback DNS server (dnslib, as in the
tests), so the numbers include real UDP questions but no network latency. Prints the median and
the 90th percentile per message, messages per second at the given concurrency, and the CPU time
per message (the figure to trust on a shared machine, where wall times swing). This is a
hook for the SMTP bench's "authentication on vs off" comparison, not a test: nothing in the
test suite is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import dns.resolver as dns_resolver

from postroom.core.envelope import Stage
from postroom.net.dns import make_resolver
from postroom.net.lookup import DnsLookup
from postroom.services.mailauth.check import MailAuthCheck, MailAuthSettings
from postroom.services.pipeline import BytesContent, Client, Message, Pipeline, header_section
from tests.support.authmail import AuthDns, DkimKey, message


async def one(pipeline: Pipeline, data: bytes) -> float:
    start = time.perf_counter()
    m = Message(Client("192.0.2.1", helo="sender.test"), "bounce@sender.test")
    await pipeline.judge(Stage.SENDER, m)
    m.recipients.append("r@example.test")
    await pipeline.judge(Stage.RECIPIENT, m)
    m.head, m.size, m.content = header_section(data), len(data), BytesContent(data)
    await pipeline.judge(Stage.CONTENT, m)
    return time.perf_counter() - start


async def main(messages: int, size: int, concurrency: int, cache: bool) -> None:
    dns = AuthDns()
    try:
        key = DkimKey("sel", "sender.test")
        dns.txt(key.name, key.record)
        dns.txt("sender.test", "v=spf1 ip4:192.0.2.0/24 -all")
        dns.txt("_dmarc.sender.test", "v=DMARC1; p=reject")
        body = ("x" * 76 + "\r\n") * max(1, size // 78)
        data = key.sign(message("a@sender.test", "r@example.test", body=body))
        resolver = make_resolver([f"127.0.0.1:{dns.port}"], 5)
        if cache:
            resolver.cache = dns_resolver.LRUCache(10000)  # as build_mailauth does
        lookup = DnsLookup(resolver, 5, cache=10000 if cache else 0)
        check = MailAuthCheck(MailAuthSettings(authserv_id="mx.bench.test"), lookup)
        pipeline = Pipeline([check])
        await one(pipeline, data)  # warm up: imports, the suffix list, thread pool
        times: list[float] = []
        sem = asyncio.Semaphore(concurrency)

        async def run() -> None:
            async with sem:
                times.append(await one(pipeline, data))
        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(run() for _ in range(messages)))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        check.close()
    finally:
        dns.stop()
    times.sort()
    print(f"mailauth: {messages} messages of {len(data)} octets, {concurrency} at once, "
          f"DNS cache {'on' if cache else 'off'}")
    print(f"  per message: median {statistics.median(times) * 1000:.2f} ms, "
          f"p90 {times[int(len(times) * 0.9) - 1] * 1000:.2f} ms")
    print(f"  throughput: {messages / wall:.0f} messages/s")
    # CPU time of the whole process (checks, worker threads and the in-process DNS server):
    # the number that holds on a loaded machine, where wall times do not
    print(f"  CPU: {cpu / messages * 1000:.2f} ms per message")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--no-cache", action="store_true", help="every message asks DNS")
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.size, args.concurrency, not args.no_cache))
