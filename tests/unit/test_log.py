"""Structured logs carry the connection id set by the listener for that connection's task."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from postroom.obs import log as obs_log

LOGGER = logging.getLogger("postroom.test")


def test_text_and_json_lines_carry_connection_id(tmp_path: Path) -> None:
    for fmt in ("text", "json"):
        path = tmp_path / f"{fmt}.log"
        obs_log.setup("info", fmt, str(path))
        async def session(cid: str) -> None:
            obs_log.conn_id.set(cid)
            await asyncio.sleep(0)
            LOGGER.info("login ok", extra={"user": "alice@example.com"})

        async def main() -> None:
            await asyncio.gather(asyncio.create_task(session("c1")),
                                 asyncio.create_task(session("c2")))
        asyncio.run(main())
        logging.getLogger("postroom").handlers[0].flush()
        lines = path.read_text().splitlines()
        assert len(lines) == 2
        if fmt == "json":
            parsed = [json.loads(ln) for ln in lines]
            assert {p["conn"] for p in parsed} == {"c1", "c2"}
            assert parsed[0]["user"] == "alice@example.com" and parsed[0]["msg"] == "login ok"
        else:
            assert {ln.split()[3] for ln in lines} == {"conn=c1", "conn=c2"}
            assert all("user=alice@example.com" in ln for ln in lines)
    logging.getLogger("postroom").handlers.clear()
