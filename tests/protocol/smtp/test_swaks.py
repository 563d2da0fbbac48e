"""swaks (Debian's Swiss Army Knife for SMTP) against 25, 587 and 465: a real third-party
client with its own idea of STARTTLS, AUTH and PIPELINING."""

from __future__ import annotations

import secrets
import shutil
import subprocess

import pytest

from tests.protocol.smtp.test_session import inbox
from tests.support.server import RunningServer, wait_for

assert shutil.which("swaks"), "swaks is missing: 'make test-deps' installs it"

# swaks takes any argument that starts with "-" for an option, whatever the form
# (--auth-password=-x, SWAKS_OPT_auth_password), so a random password must not start with one.
PASSWORD = "swaks-pw-" + secrets.token_urlsafe(12)


def swaks(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port),
                           "--helo", "swaks.example", "--timeout", "20", *args],
                          capture_output=True, text=True, timeout=60)


def test_mx_port_plain_pipelined_and_starttls(smtp_server: RunningServer) -> None:
    user = smtp_server.add_user("swaks25", password=PASSWORD)
    plain = swaks(smtp_server.port("smtp"), "--to", user[0], "--from", "a@example.net",
                  "--pipeline", "--header", "Subject: swaks plain")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "<** " not in plain.stdout
    tls = swaks(smtp_server.port("smtp"), "--to", user[0], "--from", "a@example.net", "--tls",
                "--header", "Subject: swaks starttls")
    assert tls.returncode == 0, tls.stdout + tls.stderr
    assert "TLS started" in tls.stdout
    wait_for(lambda: len(inbox(smtp_server, user)) == 2)
    # AUTH is not offered on 25 before STARTTLS
    refused = swaks(smtp_server.port("smtp"), "--to", user[0], "--from", "a@example.net",
                    "--auth", "PLAIN", "--auth-user", user[0], "--auth-password", user[1])
    assert refused.returncode != 0
    assert "did not advertise authentication" in refused.stdout + refused.stderr


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_submission_starttls_auth(smtp_server: RunningServer, mech: str) -> None:
    user = smtp_server.add_user("swaks587", password=PASSWORD)
    result = swaks(smtp_server.port("submission"), "--to", user[0], "--from", user[0],
                   "--tls", "--auth", mech, "--auth-user", user[0], "--auth-password", user[1],
                   "--header", f"From: <{user[0]}>")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "235 2.7.0" in result.stdout
    wait_for(lambda: len(inbox(smtp_server, user)) == 1)


def test_submission_refuses_without_auth_and_with_bad_password(
        smtp_server: RunningServer) -> None:
    user = smtp_server.add_user("swaksbad", password=PASSWORD)
    no_auth = swaks(smtp_server.port("submission"), "--to", user[0], "--from", user[0], "--tls")
    assert no_auth.returncode != 0 and "530 5.7.0" in no_auth.stdout
    bad = swaks(smtp_server.port("submission"), "--to", user[0], "--from", user[0], "--tls",
                "--auth", "PLAIN", "--auth-user", user[0], "--auth-password", "wrong")
    assert bad.returncode != 0 and "535 5.7.8" in bad.stdout


def test_submissions_implicit_tls(smtp_server: RunningServer) -> None:
    user = smtp_server.add_user("swaks465", password=PASSWORD)
    result = swaks(smtp_server.port("submissions"), "--to", user[0], "--from", user[0],
                   "--tlsc", "--auth", "PLAIN", "--auth-user", user[0],
                   "--auth-password", user[1], "--header", f"From: <{user[0]}>")
    assert result.returncode == 0, result.stdout + result.stderr
    wait_for(lambda: len(inbox(smtp_server, user)) == 1)
