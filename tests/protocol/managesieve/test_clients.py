"""ManageSieve with real clients: sievelib's managesieve client (PyPI) and Debian's
sieve-connect, each over STARTTLS with the server's certificate verified (it is its own trust
anchor here), against a real server on loopback (RFC 5804)."""

from __future__ import annotations

import imaplib
import os
import shutil
import smtplib
import subprocess
from pathlib import Path

import pytest
from sievelib.managesieve import Client

from tests.protocol.managesieve.conftest import MAX_SCRIPTS, cert_file
from tests.protocol.managesieve.test_session import FILTER, MALFORMED
from tests.support.server import RunningServer, wait_for
from tests.support.tls import insecure_context

HOSTNAME = "mail.example.test"  # a name the server's certificate carries


@pytest.fixture
def trusted(sieve_server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """sievelib verifies with ``ssl.create_default_context()``: point it (OpenSSL's default
    paths) at the server's certificate."""
    cert = cert_file(sieve_server)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return cert


def sievelib_client(srv: RunningServer, user: tuple[str, str], mech: str = "PLAIN") -> Client:
    client = Client("127.0.0.1", srv.port("managesieve"), srvhostname=HOSTNAME)
    assert client.connect(user[0], user[1], starttls=True, authmech=mech), client.errmsg
    return client


def test_sievelib_whole_cycle(sieve_server: RunningServer, user: tuple[str, str],
                              trusted: Path) -> None:
    c = sievelib_client(sieve_server, user)
    assert c.get_implementation().startswith("Postroom")
    assert {"fileinto", "vacation", "variables"} <= set(c.get_sieve_capabilities())
    assert c.havespace("lists", len(FILTER))
    assert c.putscript("lists", FILTER)
    assert c.putscript("spare", "keep;\n")
    assert c.listscripts() == (None, ["lists", "spare"])
    assert c.setactive("lists")
    assert c.listscripts() == ("lists", ["spare"])
    assert c.getscript("lists") == FILTER.replace("\r\n", "\n").rstrip("\n")
    assert not c.deletescript("lists")
    assert c.errcode == b"ACTIVE"
    assert c.renamescript("lists", "sorting")  # RENAMESCRIPT: the server says VERSION
    assert c.listscripts() == ("sorting", ["spare"])
    assert c.checkscript("stop;\n")
    assert not c.checkscript(MALFORMED)
    assert c.setactive("")
    assert c.deletescript("sorting")
    assert c.listscripts() == (None, ["spare"])
    c.logout()


def folder_subjects(srv: RunningServer, user: tuple[str, str], name: str) -> list[bytes]:
    with imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"),
                           ssl_context=insecure_context()) as imap:
        imap.login(*user)
        imap.select(name, readonly=True)
        _, data = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        return [item[1].strip() for item in data if isinstance(item, tuple)]


def test_a_script_stored_over_managesieve_filters_delivery(
        sieve_server: RunningServer, user: tuple[str, str], trusted: Path) -> None:
    """End to end: sievelib stores and activates a filter, SMTP delivers two messages, IMAP
    finds the list mail in Junk and the other in INBOX."""
    c = sievelib_client(sieve_server, user)
    assert c.putscript("lists", FILTER) and c.setactive("lists")
    c.logout()
    with smtplib.SMTP("127.0.0.1", sieve_server.port("smtp")) as s:
        for subject in ("[list] weekly digest", "hello"):
            s.sendmail("someone@example.net", [user[0]],
                       f"From: <someone@example.net>\r\nTo: <{user[0]}>\r\n"
                       f"Subject: {subject}\r\n\r\nBody\r\n".encode())
    wait_for(lambda: folder_subjects(sieve_server, user, "Junk") and
             folder_subjects(sieve_server, user, "INBOX"), what="both delivered")
    assert folder_subjects(sieve_server, user, "Junk") == [b"Subject: [list] weekly digest"]
    assert folder_subjects(sieve_server, user, "INBOX") == [b"Subject: hello"]


def test_sievelib_malformed_script_names_the_line(sieve_server: RunningServer,
                                                  user: tuple[str, str],
                                                  trusted: Path) -> None:
    """Issue acceptance, with a real client: PUTSCRIPT refuses the script, naming the line."""
    c = sievelib_client(sieve_server, user)
    assert not c.putscript("broken", MALFORMED)
    assert c.errmsg.startswith(b"line 3, column 5: "), c.errmsg
    assert c.listscripts() == (None, [])
    c.logout()


def test_sievelib_quotas_and_login_mechanism(sieve_server: RunningServer,
                                             user: tuple[str, str], trusted: Path) -> None:
    c = sievelib_client(sieve_server, user, mech="LOGIN")
    for i in range(MAX_SCRIPTS):
        assert c.putscript(f"s{i}", "keep;\n")
    assert not c.putscript("too many", "keep;\n")
    assert c.errcode == b"QUOTA/MAXSCRIPTS"
    assert not c.havespace("s0", 10**6)
    assert c.errcode == b"QUOTA/MAXSIZE"
    c.logout()


def test_sievelib_wrong_password(sieve_server: RunningServer, user: tuple[str, str],
                                 trusted: Path) -> None:
    client = Client("127.0.0.1", sieve_server.port("managesieve"), srvhostname=HOSTNAME)
    assert not client.connect(user[0], "wrong", starttls=True, authmech="PLAIN")


# -- sieve-connect (Debian) -------------------------------------------------------------------

SIEVE_CONNECT = shutil.which("sieve-connect")
needs_sieve_connect = pytest.mark.skipif(SIEVE_CONNECT is None,
                                         reason="Debian's sieve-connect is not installed")


def sieve_connect(srv: RunningServer, user: tuple[str, str], *args: str,
                  cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """One sieve-connect run: STARTTLS verified against the server's certificate, the
    password through a pipe (--passwordfd), no SRV lookups."""
    assert SIEVE_CONNECT is not None
    read, write = os.pipe()
    os.write(write, user[1].encode() + b"\n")
    os.close(write)
    try:
        return subprocess.run(
            [SIEVE_CONNECT, "--nosrv", "--server", "127.0.0.1",
             "--port", str(srv.port("managesieve")), "--user", user[0],
             "--passwordfd", str(read), "--tlscafile", str(cert_file(srv)),
             "--tlshostname", HOSTNAME, "--noclearauth", *args],
            pass_fds=(read,), capture_output=True, text=True, timeout=60, cwd=cwd)
    finally:
        os.close(read)


@needs_sieve_connect
def test_sieve_connect_cycle(sieve_server: RunningServer, user: tuple[str, str],
                             tmp_path: Path) -> None:
    script = tmp_path / "lists.sieve"
    script.write_text(FILTER.replace("\r\n", "\n"))
    up = sieve_connect(sieve_server, user, "--upload", "--localsieve", str(script),
                       "--remotesieve", "lists")
    assert up.returncode == 0, up.stderr
    act = sieve_connect(sieve_server, user, "--activate", "--remotesieve", "lists")
    assert act.returncode == 0, act.stderr
    listed = sieve_connect(sieve_server, user, "--list")
    assert listed.returncode == 0, listed.stderr
    assert "lists" in listed.stdout and "ACTIVE" in listed.stdout.upper()
    back = tmp_path / "back.sieve"
    down = sieve_connect(sieve_server, user, "--download", "--remotesieve", "lists",
                         "--localsieve", str(back))
    assert down.returncode == 0, down.stderr
    assert back.read_text().replace("\r\n", "\n") == FILTER.replace("\r\n", "\n")
    check = sieve_connect(sieve_server, user, "--checkscript", "--localsieve", str(script))
    assert check.returncode == 0, check.stderr
    refused = sieve_connect(sieve_server, user, "--delete", "--remotesieve", "lists")
    assert refused.returncode != 0  # the active script (RFC 5804 §2.10)
    off = sieve_connect(sieve_server, user, "--deactivate")
    assert off.returncode == 0, off.stderr
    gone = sieve_connect(sieve_server, user, "--delete", "--remotesieve", "lists")
    assert gone.returncode == 0, gone.stderr
    listed = sieve_connect(sieve_server, user, "--list")
    assert "lists" not in listed.stdout


@needs_sieve_connect
def test_sieve_connect_malformed_script_names_the_line(sieve_server: RunningServer,
                                                       user: tuple[str, str],
                                                       tmp_path: Path) -> None:
    """Issue acceptance with Debian's client: the upload fails and the line is named."""
    script = tmp_path / "broken.sieve"
    script.write_text(MALFORMED.replace("\r\n", "\n"))
    up = sieve_connect(sieve_server, user, "--upload", "--localsieve", str(script),
                       "--remotesieve", "broken")
    assert up.returncode != 0
    assert "line 3, column 5" in up.stderr + up.stdout, (up.stdout, up.stderr)


@needs_sieve_connect
def test_sieve_connect_wrong_password(sieve_server: RunningServer,
                                      user: tuple[str, str]) -> None:
    run = sieve_connect(sieve_server, (user[0], "wrong"), "--list")
    assert run.returncode != 0
    assert "Authentication" in run.stderr or "NO" in run.stderr, run.stderr
