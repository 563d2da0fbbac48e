"""A server whose blobs live in an S3-compatible object store (moto's server, a real HTTP S3
implementation started here): mail accepted over SMTP is read back over IMAP from the objects,
and survives a SIGKILL (a 250 only after the store acknowledged the PUT)."""

from __future__ import annotations

import imaplib
import smtplib
import time
from pathlib import Path

from tests.support.cluster import running_cluster
from tests.support.s3 import ACCESS, BUCKET, SECRET, s3_server
from tests.support.tls import insecure_context


def test_mail_through_an_object_store(tmp_path: Path) -> None:
    secret = tmp_path / "s3.secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    with s3_server() as endpoint:
        extra = ["--set", "blobs.backend=s3", "--set", f"blobs.s3.endpoint={endpoint}",
                 "--set", f"blobs.s3.bucket={BUCKET}", "--set", f"blobs.s3.access_key={ACCESS}",
                 "--set", f"blobs.s3.secret_key_file={secret}", "--set", "blobs.s3.prefix=mail/"]
        with running_cluster(tmp_path, size=1, extra=extra) as cluster:
            user = cluster.add_user("alice")
            node = cluster[0]
            body = b"Subject: stored as an object\r\n\r\n" + b"line of text\r\n" * 40_000
            with smtplib.SMTP("127.0.0.1", node.ports["smtp"]) as smtp:
                smtp.sendmail("someone@example.net", [user[0]], body)
            node.kill()
            node.start()
            node.wait_ready()
            imap = imaplib.IMAP4("127.0.0.1", node.ports["imap"])
            imap.starttls(insecure_context())
            imap.login(*user)
            deadline = time.monotonic() + 20
            while int(imap.select("INBOX")[1][0] or 0) < 1:
                assert time.monotonic() < deadline
                time.sleep(0.2)
            _, data = imap.fetch("1", "(BODY.PEEK[] BODY.PEEK[]<500000.100>)")
            parts = [p[1] for p in data if isinstance(p, tuple)]
            imap.logout()
            assert parts[0].endswith(body[-1000:])
            assert parts[1] == parts[0][500000:500100]
