"""Roundcube, the webmail reference: Debian's ``roundcube-core`` run privately on loopback.

Never the system's web server or database: PHP's built-in server (``php -S``) serves Debian's
document root (/var/lib/roundcube/public_html, which includes /usr/share/roundcube's code)
with a configuration this module writes into its own directory (``ROUNDCUBE_CONFIG_DIR``):
Roundcube's own tables in a fresh SQLite file, ``imap_host`` = the bench's Dovecot on
loopback, no plugins, the elastic skin, logs and temp files in that directory. Everything
else is Debian's ``defaults.inc.php`` as shipped; in particular Roundcube's IMAP caches are
off (``imap_cache = null``, ``messages_cache = false``) unless ``cache=True``, which turns
both on in the database (``imap_cache = 'db'``, ``messages_cache = true``), the setting its
documentation suggests for large mailboxes.

The built-in server is single-process, as a bench with one sequential client needs; PHP's
opcode cache is switched on for it (``opcache.enable_cli``; php-fpm has it on by default),
so Roundcube is not measured recompiling its PHP on every request.

Also the client-side parsing the bench needs: the request token Roundcube puts in its login
form and in its pages (``request_token``, sent back as ``_token`` or the
``X-Roundcube-Request`` header), and the rows of a list response.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from bench.reference import POLICY, free_port, terminate, tree_pss, wait_port

# Debian packages (the Makefile's bench-deps target installs the same list; a unit test
# checks). php-fpm comes first so that apt satisfies ``php``'s "libapache2-mod-php | php-fpm |
# php-cgi" with it instead of pulling Apache in; no recommends (they would bring a web
# server). PHP's opcode cache comes with php-cli. Real package names only: ``dpkg -s`` must
# know each, or every run would call apt-get again.
PACKAGES = ["php-fpm", "php-cli", "php-sqlite3", "php-intl", "php-mbstring",
            "roundcube-sqlite3", "roundcube-core"]
# Debconf answer given before installing: no dbconfig-common database set-up (the bench
# makes its own SQLite file; the package's would be unused).
PRESEED = "roundcube-core roundcube/dbconfig-install boolean false\n"
DOCROOT = Path("/var/lib/roundcube/public_html")
DEFAULTS = Path("/etc/roundcube/defaults.inc.php")
SCHEMA = Path("/usr/share/roundcube/SQL/sqlite.initial.sql")
PAGE_SIZE = 50


def ensure_packages() -> None:
    """Install what is missing (root only), services denied, dbconfig-common skipped."""
    missing = [p for p in PACKAGES
               if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if not missing and DOCROOT.exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(f"bench: Debian packages missing and not root: {' '.join(missing)}")
    print(f"bench: installing {' '.join(missing)} (services are not started)", flush=True)
    subprocess.run(["debconf-set-selections"], input=PRESEED.encode(), check=True)
    own_policy = not POLICY.exists()
    if own_policy:
        POLICY.write_text("#!/bin/sh\n# written by Postroom's bench for one install\nexit 101\n")
        POLICY.chmod(0o755)
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                        *PACKAGES], check=True, env=env, stdout=subprocess.DEVNULL)
    finally:
        if own_policy:
            POLICY.unlink()


def php_quote(value: str) -> str:
    """A PHP single-quoted string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Roundcube:
    """One private Roundcube: ``php -S 127.0.0.1:<port>`` over Debian's document root."""

    def __init__(self, root: Path, imap_port: int, cache: bool = False,
                 name: str = "roundcube") -> None:
        self.root = root
        self.imap_port = imap_port
        self.cache = cache
        self.name = name
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    def write_config(self) -> None:
        for sub in ("config", "logs", "temp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # Debian's defaults, as shipped; only config.inc.php is ours
        link = self.config_dir / "defaults.inc.php"
        if not link.exists():
            link.symlink_to(DEFAULTS)
        mimetypes = DEFAULTS.parent / "mimetypes.php"
        if mimetypes.exists() and not (self.config_dir / "mimetypes.php").exists():
            (self.config_dir / "mimetypes.php").symlink_to(mimetypes)
        db = self.root / "roundcube.db"
        if not db.exists():
            with sqlite3.connect(db) as conn:
                conn.executescript(SCHEMA.read_text())
            conn.close()
        cache = ("$config['imap_cache'] = 'db';\n$config['messages_cache'] = true;\n"
                 if self.cache else
                 "$config['imap_cache'] = null;\n$config['messages_cache'] = false;\n")
        r = self.root
        (self.config_dir / "config.inc.php").write_text(
            "<?php\n// Private Roundcube for Postroom's webmail bench (loopback only).\n"
            "$config = [];\n"
            f"$config['db_dsnw'] = {php_quote(f'sqlite:///{db}?mode=0640')};\n"
            f"$config['imap_host'] = {php_quote(f'127.0.0.1:{self.imap_port}')};\n"
            "$config['smtp_host'] = '';\n"
            f"$config['des_key'] = {php_quote(secrets.token_hex(12))};\n"
            "$config['plugins'] = [];\n"
            "$config['skin'] = 'elastic';\n"
            "$config['enable_spellcheck'] = false;\n"
            "$config['support_url'] = '';\n"
            f"$config['log_dir'] = {php_quote(str(r / 'logs'))};\n"
            f"$config['temp_dir'] = {php_quote(str(r / 'temp'))};\n"
            f"$config['mail_pagesize'] = {PAGE_SIZE};\n"
            + cache)

    def start(self) -> None:
        log = (self.root / "php.log").open("ab")
        env = dict(os.environ, ROUNDCUBE_CONFIG_DIR=str(self.config_dir))
        env.pop("PHP_CLI_SERVER_WORKERS", None)
        self.proc = subprocess.Popen(
            ["php", "-d", "opcache.enable_cli=1", "-d", "display_errors=0",
             "-d", f"error_log={self.root / 'logs' / 'php-errors.log'}",
             "-S", f"127.0.0.1:{self.port}", "-t", str(DOCROOT)],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env, cwd=str(DOCROOT))
        wait_port(self.port)

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None

    def pss_kib(self) -> int:
        return tree_pss(self.proc.pid) if self.proc is not None else 0

    def errors(self) -> str:
        """Roundcube's own error log (empty when it logged nothing)."""
        path = self.root / "logs" / "errors.log"
        return path.read_text(errors="replace") if path.exists() else ""


# -- what the client reads from Roundcube's answers --------------------------------------------
_TOKEN_INPUT = re.compile(
    r"""<input\b[^>]*\bname=["']_token["'][^>]*>""", re.IGNORECASE)
_VALUE = re.compile(r"""\bvalue=["']([^"']*)["']""", re.IGNORECASE)
_TOKEN_ENV = re.compile(r'"request_token"\s*:\s*"([^"\\]+)"')


def request_token(page: str) -> str | None:
    """Roundcube's request token in a page: the login form's hidden ``_token`` field, else the
    ``request_token`` of the ``rcmail.set_env({...})`` block every logged-in page carries."""
    m = _TOKEN_INPUT.search(page)
    if m:
        v = _VALUE.search(m.group(0))
        if v and v.group(1):
            return v.group(1)
    m = _TOKEN_ENV.search(page)
    return m.group(1) if m else None


def list_rows(body: bytes) -> int:
    """How many message rows a ``_action=list`` answer adds: it is JSON whose ``exec`` is the
    JavaScript the UI runs, one ``add_message_row(`` call per message. -1 if not that JSON."""
    try:
        doc: Any = json.loads(body)
    except ValueError:
        return -1
    if not isinstance(doc, dict) or not isinstance(doc.get("exec"), str):
        return -1
    return int(doc["exec"].count("add_message_row("))
