"""What the content-filter daemons say about themselves, for ``postroom status``.

clamd's VERSION answer is ``ClamAV <engine>/<signature version>/<signature date>`` (the last
two only once an official database is loaded; a custom one gives the engine alone); spamd's
PING answers ``PONG``. Each daemon is asked whether or not its check is in
``pipeline.checks``, so an administrator can see a daemon is ready before turning the check on.
A failure is a state to show, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.config import Config
from postroom.net.clamd import ClamdClient, ClamdError
from postroom.net.spamd import SpamdClient, SpamdError


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    name: str  # "spamd" | "clamd"
    check: str  # the pipeline check that uses it
    enabled: bool  # the check is in pipeline.checks
    address: str
    state: str  # "ok" | "unreachable"
    engine: str = ""  # clamd: engine version
    signatures: str = ""  # clamd: signature version and date ("" when clamd gives none)
    detail: str = ""  # spamd's answer, or the failure


def parse_clamd_version(text: str) -> tuple[str, str]:
    """``ClamAV 1.4.6/27000/Thu Dec  3 08:00:00 2026`` → (``ClamAV 1.4.6``,
    ``27000 (Thu Dec  3 08:00:00 2026)``)."""
    engine, _, rest = text.partition("/")
    version, _, date = rest.partition("/")
    signatures = f"{version} ({' '.join(date.split())})" if date else version
    return engine.strip(), signatures.strip()


async def filter_status(cfg: Config, timeout: float = 5.0) -> list[DaemonStatus]:
    checks = set(cfg.pipeline.checks)
    spamd_cfg, clamav_cfg = cfg.pipeline.spamd, cfg.pipeline.clamav
    out = []
    spamd = SpamdClient(spamd_cfg.address, timeout, min(timeout, spamd_cfg.connect_timeout))
    try:
        answer = await spamd.ping()
        out.append(DaemonStatus("spamd", "spamd", "spamd" in checks, spamd_cfg.address, "ok",
                                detail=answer))
    except SpamdError as exc:
        out.append(DaemonStatus("spamd", "spamd", "spamd" in checks, spamd_cfg.address,
                                "unreachable", detail=str(exc)))
    clamd = ClamdClient(clamav_cfg.address, timeout, min(timeout, clamav_cfg.connect_timeout))
    try:
        engine, signatures = parse_clamd_version(await clamd.version())
        out.append(DaemonStatus("clamd", "clamav", "clamav" in checks, clamav_cfg.address,
                                "ok", engine, signatures or "(custom database only)"))
    except ClamdError as exc:
        out.append(DaemonStatus("clamd", "clamav", "clamav" in checks, clamav_cfg.address,
                                "unreachable", detail=str(exc)))
    return out
