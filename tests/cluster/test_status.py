"""``postroom cluster status`` and the checks a node makes when it joins
(services/cluster.py, cli/cluster_cmds.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import Node, running_cluster


def _status(node: Node) -> tuple[int, dict[str, Any]]:
    result = node.cli("cluster", "status", "--json")
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def _refused(node: Node) -> str:
    node.start()
    with pytest.raises(AssertionError) as failed:
        node.wait_ready(60)
    node.stop()
    return str(failed.value)


def test_status_joining_and_a_dead_node(tmp_path: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        a, b = cluster[0], cluster[1]
        deadline = time.monotonic() + 15
        while True:  # a few heartbeats: the feed's lag is measured
            code, status = _status(a)
            if all(n["lag_ms"] is not None for n in status["nodes"]):
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.5)
        assert code == 0 and status["problems"] == []
        assert [(n["name"], n["state"]) for n in status["nodes"]] == [("n1", "up"),
                                                                       ("n2", "up")]
        assert status["schema_version"] == status["nodes"][0]["schema_version"]
        assert all(n["lag_ms"] < 1000 for n in status["nodes"])
        table = a.cli("cluster", "status")
        assert table.returncode == 0 and "n2" in table.stdout and "feed lag" in table.stdout

        # A second process under a live node's name is refused, and so is another key.
        twin = Node(tmp_path, "twin", cluster.dsn, ["--set", f"blobs.path={cluster.blobs}",
                                                     "--set", "cluster.node=n2"])
        cluster._prepare(twin)
        assert "another node named 'n2' is alive" in _refused(twin)
        stranger = Node(tmp_path, "stranger", cluster.dsn,
                        ["--set", f"blobs.path={cluster.blobs}"])
        stranger.data.mkdir(mode=0o700)
        (stranger.data / "secret.key").write_bytes(b"k" * 32)
        (stranger.data / "secret.key").chmod(0o600)
        assert "holds a different secret key" in _refused(stranger)

        # SIGKILL n2: once its lease time has passed it is down, and status says so (exit 1).
        b.kill()
        deadline = time.monotonic() + 20
        while True:
            code, status = _status(a)
            states = {n["name"]: n["state"] for n in status["nodes"]}
            if states.get("n2") == "down":
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.5)
        assert code == 1 and any("n2 is down" in p for p in status["problems"])
        # Restarted on its own data directory it joins again (its old process is dead).
        b.start()
        b.wait_ready()
        code, status = _status(a)
        assert code == 0 and {n["name"]: n["state"] for n in status["nodes"]}["n2"] == "up"
        # A clean stop is "stopped", not a problem.
        b.stop()
        code, status = _status(a)
        assert code == 0 and {n["name"]: n["state"] for n in status["nodes"]}["n2"] == "stopped"
