"""The nodes of a cluster: joining, heartbeats, leaving, and ``postroom cluster status``.

A node joins at start: it records its name, version, schema version, process id, host and a
fingerprint of its secret key (never the key: an HMAC of a fixed label with it). It refuses to
start, saying why and what to do, when

- another node of the same name is alive (a fresh heartbeat, not stopped, and not a dead
  process of this very host): two processes under one name would take each other's queue
  claims for their own at restart;
- a live node holds a different secret key: DKIM keys, remote POP3 passwords and second
  factors sealed by one node could not be opened by the other.

Then it records a heartbeat (and the change feed's measured lag) every
``cluster.heartbeat_seconds``, and marks itself stopped at a clean stop. A node is *up* while
its heartbeat is younger than ``cluster.lease_seconds`` (after that, its leases are taken over
too), *down* after, *stopped* when it said so.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from postroom import __version__
from postroom.config_cluster import ClusterConfig, node_name
from postroom.core.actor import Actor
from postroom.core.aio import cancel
from postroom.core.errors import not_found
from postroom.core.processes import alive
from postroom.services.audit import AuditLog
from postroom.store.migrations import latest
from postroom.store.repo.cluster import NodeRow
from postroom.store.sqlstore import SqlStore

log = logging.getLogger("postroom.cluster")

KEY_LABEL = b"postroom cluster key id"


class JoinRefused(Exception):
    """This node must not start: the message says why and what to do."""


def key_id(key_file: Path) -> str:
    """A fingerprint of the secret key that reveals nothing of it."""
    try:
        key = key_file.read_bytes()
    except FileNotFoundError:
        return ""
    return hmac.new(key, KEY_LABEL, hashlib.sha256).hexdigest()[:16]


@dataclass
class NodeStatus:
    name: str
    state: str  # up, down, stopped
    version: str
    schema_version: int
    address: str
    pid: int
    heartbeat_age: float
    lag_ms: float | None
    key_id: str
    queue_claims: int = 0
    locks: int = 0


@dataclass
class ClusterStatus:
    enabled: bool
    schema_version: int
    nodes: list[NodeStatus] = field(default_factory=list)
    multipop_leases: int = 0
    unowned_claims: int = 0
    problems: list[str] = field(default_factory=list)


class ClusterNodes:
    def __init__(self, store: SqlStore, cfg: ClusterConfig, key_file: Path,
                 lag: Callable[[], float | None] = lambda: None) -> None:
        self.repo = store.cluster
        self.cfg = cfg
        self.name = node_name(cfg)
        self.key_file = key_file
        self.lag = lag
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self._task: asyncio.Task[None] | None = None

    async def join(self) -> None:
        schema_version = latest(self.repo.engine.dialect)  # what this node's code knows
        now = int(time.time())
        mine = key_id(self.key_file)
        fresh = now - self.cfg.lease_seconds
        for row in await self.repo.nodes():
            live = row.stopped is None and row.heartbeat >= fresh
            if not live:
                continue
            if row.name == self.name and row.pid != self.pid:
                if row.address == self.host and not alive(row.pid):
                    continue  # this host's earlier process under the name: dead
                wait = int(row.heartbeat + self.cfg.lease_seconds - now) + 1
                raise JoinRefused(
                    f"another node named {self.name!r} is alive (process {row.pid} on "
                    f"{row.address}, heartbeat {now - row.heartbeat} s ago): give this one "
                    f"its own cluster.node, or if that node is dead wait {wait} s")
            if row.name != self.name and row.key_id and mine and row.key_id != mine:
                raise JoinRefused(
                    f"node {row.name!r} holds a different secret key (key id {row.key_id}, "
                    f"this node's {mine}): every node needs the same "
                    f"{self.key_file.name}; copy it from a running node's data directory")
        await self.repo.join(NodeRow(self.name, __version__, schema_version, now, now,
                                     self.pid, self.host, None, mine, None))
        log.info("cluster: joined as node %s", self.name)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="heartbeat")

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.heartbeat_seconds)
            try:
                if not await self.repo.heartbeat(self.name, self.pid, self.lag()):
                    log.error("cluster: the node row %s belongs to another process now; "
                              "two nodes share one cluster.node", self.name)
            except Exception as exc:
                log.warning("cluster: heartbeat failed (%s)", exc)

    async def leave(self) -> None:
        await cancel(self._task)
        self._task = None
        with contextlib.suppress(Exception):
            await self.repo.leave(self.name, self.pid)


class ClusterView:
    """What administrators read and do about the cluster (CLI, API)."""

    def __init__(self, store: SqlStore, cfg: ClusterConfig, enabled: bool,
                 audit: AuditLog) -> None:
        self.store = store
        self.cfg = cfg
        self.enabled = enabled
        self.audit = audit

    async def status(self) -> ClusterStatus:
        return await cluster_status(self.store, self.cfg, self.enabled)

    async def forget(self, actor: Actor, name: str) -> None:
        """Remove a node's row (a node taken out of service for good)."""
        if not await self.store.cluster.forget(name):
            raise not_found(f"no node named {name!r}")
        await self.audit.record(actor.principal, actor.origin, "cluster.forget", name)


async def cluster_status(store: SqlStore, cfg: ClusterConfig, enabled: bool) -> ClusterStatus:
    """What every node is doing, read from the database alone (no node needs to run)."""
    repo = store.cluster
    now = time.time()
    status = ClusterStatus(enabled, await repo.schema_version())
    claims = await repo.queue_claims()
    locks = await repo.advisory_locks()
    for row in await repo.nodes():
        age = now - row.heartbeat
        state = ("stopped" if row.stopped is not None
                 else "up" if age <= cfg.lease_seconds else "down")
        status.nodes.append(NodeStatus(
            row.name, state, row.version, row.schema_version, row.address, row.pid,
            round(age, 1), row.lag_ms, row.key_id, claims.pop(row.name, 0),
            locks.pop(row.name, 0)))
    status.unowned_claims = sum(claims.values())
    status.multipop_leases = await repo.multipop_leases()
    up = [n for n in status.nodes if n.state == "up"]
    for n in status.nodes:
        if n.state == "down":
            status.problems.append(f"node {n.name} is down (last heartbeat {n.heartbeat_age:.0f}"
                                   " s ago); its leases are taken over by the others")
    if up and max(n.schema_version for n in up) - min(n.schema_version for n in up) > 1:
        status.problems.append("the running nodes' schema versions differ by more than one: "
                               "finish the upgrade")
    if len({n.key_id for n in up if n.key_id}) > 1:
        status.problems.append("the running nodes hold different secret keys")
    return status
