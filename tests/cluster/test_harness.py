"""The cluster harness itself: two nodes on one database serve the same accounts."""

from __future__ import annotations

import imaplib
import smtplib
import time
from pathlib import Path

from tests.support.cluster import running_cluster
from tests.support.tls import insecure_context


def test_two_nodes_share_one_store(tmp_path: Path) -> None:
    with running_cluster(tmp_path) as cluster:
        user = cluster.add_user("alice")
        a, b = cluster[0], cluster[1]
        with smtplib.SMTP("127.0.0.1", a.ports["smtp"]) as smtp:
            smtp.sendmail("someone@example.net", [user[0]],
                          b"Subject: via n1\r\nFrom: someone@example.net\r\n\r\nhello\r\n")
        imap = imaplib.IMAP4("127.0.0.1", b.ports["imap"])
        try:
            imap.starttls(insecure_context())
            imap.login(*user)
            deadline = time.monotonic() + 20
            while True:
                typ, data = imap.select("INBOX", readonly=True)
                if typ == "OK" and int(data[0] or 0) >= 1:
                    break
                assert time.monotonic() < deadline, "the message never reached n2's view"
                time.sleep(0.2)
        finally:
            imap.logout()
