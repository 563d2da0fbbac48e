"""``postroom service unit|install``: a systemd unit that runs the server as its own user,
reloads on ``systemctl reload`` and logs to the journal; install writes it with a config."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

from tests.support.cli import run


def parse(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


def test_unit_runs_as_the_user_with_only_the_bind_capability(tmp_path: Path) -> None:
    result = run(tmp_path, "service", "unit", "--user", "nobody")
    assert result.returncode == 0, result.stderr
    unit = parse(result.stdout)["Service"]
    assert unit["User"] == "nobody" and unit["Group"] == "nogroup"
    assert unit["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    assert unit["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert " serve --config /etc/postroom/postroom.toml --data-dir /var/lib/postroom" in \
        unit["ExecStart"]
    assert Path(unit["ExecStart"].split()[0]).exists()  # this installation's postroom
    assert unit["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert unit["StateDirectory"] == "postroom" and unit["StateDirectoryMode"] == "0700"
    other = parse(run(tmp_path, "service", "unit", "--data-dir", "/srv/mail").stdout)
    assert other["Service"]["ReadWritePaths"] == "/srv/mail"


def test_install_writes_unit_and_a_config_that_checks(tmp_path: Path) -> None:
    conf, units = tmp_path / "etc" / "postroom.toml", tmp_path / "units"
    result = run(tmp_path, "service", "install", "--user", "nobody", "--config", str(conf),
                 "--unit-dir", str(units))
    assert result.returncode == 0, result.stderr
    assert "systemctl enable --now postroom" in result.stdout
    unit = (units / "postroom.service").read_text()
    assert f"--config {conf}" in unit
    assert conf.stat().st_mode & 0o777 == 0o640
    check = run(tmp_path, "config", "check", str(conf))
    assert check.returncode == 0 and check.stdout.strip().endswith("OK"), check.stderr
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(["systemd-analyze", "verify", str(units / "postroom.service")],
                                capture_output=True, text=True)
        assert "Unknown key" not in verify.stderr, verify.stderr

