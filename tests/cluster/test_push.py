"""ActiveSync Ping on node B woken by a delivery through node A (the change feed across nodes
reaches every kind of session, not only IMAP IDLE; docs/cluster.md "Change feed")."""

from __future__ import annotations

import smtplib
import threading
import time
from pathlib import Path
from typing import Any, cast

from tests.support.cluster import Node, running_cluster
from tests.support.eas import EasClient


class _Ports:
    """What EasClient asks of a test server: the HTTPS port."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def port(self, label: str) -> int:
        return self.node.ports[label]


def test_ping_on_one_node_wakes_for_mail_through_another(tmp_path: Path) -> None:
    web = ["--set", "web.https.enabled=true", "--set", "web.https.port=0",
           "--set", "web.eas.require_provisioning=false", "--set", "web.eas.min_heartbeat=1"]
    with running_cluster(tmp_path, per_node={1: web}) as cluster:
        a, b = cluster[0], cluster[1]
        address, password = cluster.add_user("alice")
        phone = EasClient(cast(Any, _Ports(b)), address, password, device="ClusterPhone")
        inbox = phone.folder_id("2")
        status, _ = phone.sync(inbox, "0")
        assert status == 200
        answer: dict[str, Any] = {}

        def ping() -> None:
            started = time.monotonic()
            answer["http"], answer["tree"] = phone.ping([(inbox, "Email")], heartbeat=120,
                                                        timeout=60)
            answer["after"] = time.monotonic() - started
        waiting = threading.Thread(target=ping)
        waiting.start()
        time.sleep(1.5)  # the Ping is waiting on B
        assert "http" not in answer, answer
        sent = time.monotonic()
        with smtplib.SMTP("127.0.0.1", a.ports["smtp"]) as smtp:
            smtp.sendmail("someone@example.net", [address],
                          b"Subject: for the phone\r\n\r\nhello\r\n")
        waiting.join(30)
        assert answer.get("http") == 200, answer
        tree = answer["tree"]
        assert tree is not None and tree.value("Status") == "2", tree  # changes
        assert time.monotonic() - sent < 5
