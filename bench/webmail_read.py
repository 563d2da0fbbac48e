"""Webmail: opening a 100 KB HTML message, server time (target: under 50 ms; issue 23).

A real server (SMTP, IMAP, the HTTPS listener with webmail) runs in this process on its own
event-loop thread, on loopback, with the embedded store in a throwaway directory. N distinct
100 KB HTML newsletters (tables, inline and ``<style>`` CSS, links, remote images, an inline
``cid:`` logo) are delivered over SMTP, so each has its delivery prefix and stored MIME scan as
in production. A user logged in over HTTPS then opens each message once:

- **page, first open**: ``GET /webmail/f/{fid}/m/{uid}``: the gate, the record, the parts read,
  the HTML sanitised (nh3 + the CSS filter), the folder tree, ``\\Seen`` stored (a write
  transaction, fsynced) and the page rendered;
- **frame**: ``GET .../body`` right after: the frame's document (sanitised HTML from the cache
  the page filled, the CSP);
- **page, again**: the page a second time (already seen, sanitised HTML cached).

Server time is the ``Server-Timing: app;dur=`` the handlers set (handler start to rendered
response); the client's round trip is reported too. Bounded: N messages (default 200), one
request each per measure. Run: ``.venv/bin/python -m bench.webmail_read [--messages 200]``;
prints JSON, and with ``--save`` writes bench/results/webmail-read-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import re
import smtplib
import statistics
import tempfile
import time
from pathlib import Path

from tests.support.server import RunningServer, server_config
from tests.support.webmail import WEBMAIL, Webmail

USER = "reader@example.test"
TARGET_MS = 50.0
LOGO = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgAAAAAgABVKJPXQAAAABJ"
        "RU5ErkJggg==")


def newsletter(index: int, size: int = 100 * 1024) -> bytes:
    """A multipart/related HTML newsletter of about ``size`` octets."""
    head = ("<html><head><style>body{font-family:Arial,sans-serif;color:#333}"
            ".card{border:1px solid #ddd;padding:12px;margin:8px 0}"
            ".card h2{font-size:18px;color:#0b5cad}@media (max-width:600px){.card{padding:4px}}"
            ".promo{background:url(https://track.example/bg.png)}</style></head><body>"
            f"<table width='100%' cellpadding='0' cellspacing='0'><tr><td align='center'>"
            f"<img src='cid:logo@news' alt='logo' width='120'><h1>Issue {index}</h1>")
    card = ("<div class='card'><h2>Story {n}</h2><p style='line-height:1.5;color:#444'>"
            "Lorem ipsum dolor sit amet, <b>consectetur</b> adipiscing elit, sed do eiusmod "
            "tempor incididunt ut labore et dolore magna aliqua. <a href='https://news.example/"
            "s/{n}?utm_source=mail'>Read more</a></p><img src='https://img.example/{n}.jpg' "
            "width='560' alt='story {n}' onerror='x()'><table><tr><td style='padding:4px;"
            "background-color:#f6f8fa'>Cell {n}</td><td>&copy; &amp; &lt;more&gt;</td></tr>"
            "</table></div>\r\n")
    parts = [head]
    n = 0
    while sum(len(p) for p in parts) < size:
        parts.append(card.format(n=n))
        n += 1
    parts.append("</td></tr></table><script>track()</script></body></html>")
    html = "".join(parts)
    return (f"From: News <news@remote.test>\r\nTo: {USER}\r\nSubject: Newsletter {index}\r\n"
            f"Message-ID: <news{index}@remote.test>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/related; boundary=rel\r\n\r\n--rel\r\n"
            "Content-Type: text/html; charset=utf-8\r\n\r\n"
            f"{html}\r\n--rel\r\nContent-Type: image/png\r\nContent-ID: <logo@news>\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{LOGO}\r\n--rel--\r\n").encode()


def server_ms(headers: object) -> float:
    value = headers.get("Server-Timing", "")  # type: ignore[attr-defined]
    found = re.search(r"app;dur=([0-9.]+)", value)
    if not found:
        raise SystemExit(f"no Server-Timing in the response: {value!r}")
    return float(found.group(1))


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"n": len(ordered), "p50": round(statistics.median(ordered), 2),
            "p95": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
            "max": round(ordered[-1], 2)}


def run(messages: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-webmail-read-") as tmp:
        server = RunningServer(server_config(Path(tmp), extra=WEBMAIL))
        try:
            mail = Webmail(server)
            mail.account(USER)
            with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=60) as smtp:
                for i in range(messages):
                    smtp.sendmail("news@remote.test", [USER], newsletter(i))
            imap = mail.imap(USER)
            deadline = time.monotonic() + 120
            uids: list[int] = []
            while time.monotonic() < deadline:
                imap.select("INBOX")
                _, data = imap.uid("SEARCH", "ALL")
                uids = [int(u) for u in data[0].split()]
                if len(uids) >= messages:
                    break
                time.sleep(0.2)
            imap.logout()
            web = mail.client(USER)
            fid = int(re.match(r"/webmail/f/(\d+)", web.get("/webmail/").location)
                      .group(1))  # type: ignore[union-attr]
            size = len(newsletter(0))
            first: list[float] = []
            frame: list[float] = []
            again: list[float] = []
            rtt: list[float] = []
            for uid in uids:
                started = time.perf_counter()
                page = web.get(f"/webmail/f/{fid}/m/{uid}")
                rtt.append((time.perf_counter() - started) * 1000)
                assert page.status == 200 and "<iframe" in page.text, page.status
                first.append(server_ms(page.headers))
                body = web.get(f"/webmail/f/{fid}/m/{uid}/body")
                assert body.status == 200 and "<script" not in body.text
                frame.append(server_ms(body.headers))
            for uid in uids:
                again.append(server_ms(web.get(f"/webmail/f/{fid}/m/{uid}").headers))
        finally:
            server.stop()
    result: dict[str, object] = {
        "bench": "webmail_read", "messages": len(uids), "message_octets": size,
        "target_ms": TARGET_MS, "page_first_open_ms": summary(first),
        "frame_body_ms": summary(frame), "page_again_ms": summary(again),
        "page_first_open_round_trip_ms": summary(rtt)}
    result["meets_target"] = summary(first)["p95"] < TARGET_MS
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--save", action="store_true")
    args = parser.parse_args()
    result = run(max(1, min(args.messages, 5000)))
    text = json.dumps(result, indent=2)
    print(text)
    if args.save:
        out = Path(__file__).parent / "results" / \
            f"webmail-read-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
