"""Third-party DAV clients from Debian driven by the interop tests (tests/dav/test_interop_*):
``vdirsyncer`` (CalDAV/CardDAV sync to a local directory) and ``cadaver`` (a WebDAV shell).

Both are real programs run as subprocesses against the test server's HTTPS listener; the
test server's certificate is self-signed for another name, so vdirsyncer pins its SHA-256
fingerprint (Debian's 0.19 has no ``verify = false``) and cadaver is answered "y" at its
certificate prompt through a pseudo-terminal (``script``), as a person would."""

from __future__ import annotations

import hashlib
import shutil
import ssl
import subprocess
from pathlib import Path

from tests.support.webmail import PASSWORD

VDIRSYNCER = shutil.which("vdirsyncer")
CADAVER = shutil.which("cadaver")
SCRIPT = shutil.which("script")
# Debian packages `make test` installs for these tests (Makefile DEB_TEST_PACKAGES).
PACKAGES = ("vdirsyncer", "cadaver", "curl", "bsdutils")


def fingerprint(port: int) -> str:
    """SHA-256 of the server's certificate, hex, as vdirsyncer's verify_fingerprint wants."""
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


class Vdirsyncer:
    """A vdirsyncer set-up: pairs ``cal`` and ``card`` between ``root``/cal, ``root``/card
    and the server's calendar and address book homes, discovered from the bare URL."""

    def __init__(self, root: Path, port: int, user: str, password: str = PASSWORD,
                 collections: str = '["from b"]') -> None:
        assert VDIRSYNCER is not None
        self.root = root
        self.cal = root / "cal"
        self.card = root / "card"
        for d in (self.cal, self.card, root / "status"):
            d.mkdir(parents=True, exist_ok=True)
        url = f"https://127.0.0.1:{port}/"
        remote = (f'url = "{url}"\nusername = "{user}"\npassword = "{password}"\n'
                  f'verify_fingerprint = "{fingerprint(port)}"\n')
        self.config = root / "config"
        self.config.write_text(
            f'[general]\nstatus_path = "{root / "status"}/"\n\n'
            f'[pair cal]\na = "cal_local"\nb = "cal_remote"\ncollections = {collections}\n'
            'metadata = ["color", "displayname"]\nconflict_resolution = "b wins"\n\n'
            f'[storage cal_local]\ntype = "filesystem"\npath = "{self.cal}/"\n'
            'fileext = ".ics"\n\n'
            f'[storage cal_remote]\ntype = "caldav"\n{remote}\n'
            '[pair card]\na = "card_local"\nb = "card_remote"\n'
            f'collections = {collections}\nconflict_resolution = "b wins"\n\n'
            f'[storage card_local]\ntype = "filesystem"\npath = "{self.card}/"\n'
            'fileext = ".vcf"\n\n'
            f'[storage card_remote]\ntype = "carddav"\n{remote}')

    def run(self, *args: str) -> str:
        """Run ``vdirsyncer -c config ARGS`` (answering yes to its questions); its output,
        asserting exit 0."""
        assert VDIRSYNCER is not None
        done = subprocess.run([VDIRSYNCER, "-c", str(self.config), *args], input="y\n" * 20,
                              capture_output=True, text=True, timeout=60, check=False)
        out = done.stdout + done.stderr
        assert done.returncode == 0, out
        return out


def cadaver(url: str, commands: list[str], home: Path, user: str,
            password: str = PASSWORD) -> str:
    """Run ``cadaver -r SCRIPT URL`` under a pseudo-terminal, accepting the certificate, with
    credentials from ``home``/.netrc; the transcript."""
    assert CADAVER is not None and SCRIPT is not None
    home.mkdir(parents=True, exist_ok=True)
    netrc = home / ".netrc"
    netrc.write_text(f"machine 127.0.0.1\nlogin {user}\npassword {password}\n")
    netrc.chmod(0o600)
    rc = home / "script.rc"
    rc.write_text("\n".join([*commands, "quit"]) + "\n")
    cmd = f"cadaver -r {rc} {url}"
    done = subprocess.run([SCRIPT, "-qec", cmd, "/dev/null"], input="y\n", cwd=home,
                          env={"HOME": str(home), "PATH": "/usr/bin:/bin", "TERM": "dumb"},
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.replace("\r", "")
