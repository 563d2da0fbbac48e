"""``postroom config check`` runs exactly the checks ``postroom serve`` runs before it starts:
for each broken file both refuse, with the same lines, each naming the key and the file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from postroom.net.tls import ensure_self_signed

POSTROOM = [sys.executable, "-m", "postroom"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POSTROOM, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "200"})


def errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stderr
    return sorted(ln for ln in result.stderr.splitlines() if ln.startswith("error:"))


@pytest.mark.parametrize("body,needles", [
    ('[smtp]\ntrusted_networks = ["10.0.0.0/33"]\n',
     ["smtp.trusted_networks: '10.0.0.0/33' is not a network"]),
    ('[tls]\ncert = "CERT"\n', ["tls.key: required when tls.cert is set"]),
    ('[tls]\ncert = "MISSING"\nkey = "KEY"\n', ["tls.cert: MISSING: no such file"]),
    ('[tls]\ncert = "OTHER"\nkey = "KEY"\n', ["tls.key: KEY is not the private key"]),
    ('[server]\nlisten = ["192.0.2.99"]\n',
     ["server.listen: 192.0.2.99 is not an address of this machine"]),
    ('[store]\nbackend = "mysql"\n[log]\nlevel = "loud"\n',
     ["store.backend: invalid enum value 'mysql'; one of: sqlite, postgresql",
      "log.level: invalid enum value 'loud'; one of: debug, info, warning, error"]),
])
def test_check_and_serve_agree(tmp_path: Path, body: str, needles: list[str]) -> None:
    cert, key = ensure_self_signed(tmp_path / "a", "a.example")
    other, _ = ensure_self_signed(tmp_path / "b", "b.example")
    names = {"CERT": str(cert), "KEY": str(key), "OTHER": str(other),
             "MISSING": str(tmp_path / "missing.pem")}
    for placeholder, value in names.items():
        body = body.replace(placeholder, value)
        needles = [n.replace(placeholder, value) for n in needles]
    conf = tmp_path / "postroom.toml"
    conf.write_text(body)
    checked = run("config", "check", str(conf))
    served = run("serve", "--config", str(conf), "--data-dir", str(tmp_path / "var"),
                 "--port-offset", "20000")
    assert checked.returncode == served.returncode == 2, (checked.stderr, served.stderr)
    assert errors(checked) == errors(served), (checked.stderr, served.stderr)
    for needle in needles:
        assert f"error: {conf}: {needle}" in checked.stderr, checked.stderr
    assert not (tmp_path / "var" / "postroom.db").exists()  # serve stopped before starting


def test_a_good_file_is_ok(tmp_path: Path) -> None:
    conf = tmp_path / "postroom.toml"
    conf.write_text(run("config", "example").stdout)
    result = run("config", "check", str(conf))
    assert result.returncode == 0 and result.stdout.strip() == f"{conf}: OK", result.stderr
