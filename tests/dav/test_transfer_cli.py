"""``postroom calendar|contacts import|export`` through the real command: a .ics and a .vcf in,
the report (bad items by number), the files out again, --json, --help, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.dav.test_transfer import ics, vcf
from tests.support.cli import run

USER = "carl@cli-transfer.test"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("pimcli") / "var"
    if run(home, "calendar", "--help").returncode != 0:
        pytest.skip("postroom calendar is not registered in cli/main.py yet")
    assert run(home, "domain", "add", "cli-transfer.test").returncode == 0
    assert run(home, "user", "add", USER, "--password", "pw-12345-cli").returncode == 0
    return home


def test_calendar_import_and_export(data: Path, tmp_path: Path) -> None:
    source = tmp_path / "work.ics"
    source.write_bytes(b"".join(ics(300)))
    result = run(data, "calendar", "import", USER, "Calendar", str(source))
    assert result.returncode == 0, result.stderr
    assert "300 new, 0 replaced in Calendar" in result.stdout
    again = run(data, "calendar", "import", USER, "Calendar", str(source), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"folder": "Calendar", "imported": 0, "replaced": 300,
                                        "skipped": [], "stopped": ""}
    target = tmp_path / "out.ics"
    exported = run(data, "calendar", "export", USER, "Calendar", str(target))
    assert exported.returncode == 0, exported.stderr
    text = target.read_bytes()
    assert text.count(b"BEGIN:VEVENT") == 300 and text.count(b"BEGIN:VTIMEZONE") == 1
    assert not (tmp_path / "out.ics.part").exists()
    to_stdout = run(data, "calendar", "export", USER, "Calendar", "-")
    assert to_stdout.stdout.count("BEGIN:VEVENT") == 300


def test_contacts_with_a_bad_card_and_a_new_folder(data: Path, tmp_path: Path) -> None:
    source = tmp_path / "people.vcf"
    source.write_bytes(b"".join(vcf(1000)))  # card 778 is broken
    result = run(data, "contacts", "import", USER, "Clients", str(source), "--create")
    assert result.returncode == 0, result.stderr
    assert "999 new, 0 replaced in Clients" in result.stdout and "1 skipped" in result.stdout
    assert "item 778 skipped" in result.stdout
    target = tmp_path / "back.vcf"
    assert run(data, "contacts", "export", USER, "Clients", str(target)).returncode == 0
    assert target.read_bytes().count(b"BEGIN:VCARD") == 999


def test_refusals_and_help(data: Path, tmp_path: Path) -> None:
    helped = run(data, "calendar", "import", "--help")
    assert helped.returncode == 0 and "replaces it" in helped.stdout
    assert "max_import_size" in helped.stdout
    missing = run(data, "calendar", "import", USER, "Nope", str(tmp_path / "none.ics"))
    assert missing.returncode != 0
    source = tmp_path / "x.ics"
    source.write_bytes(b"this is not a calendar\r\n")
    refused = run(data, "calendar", "import", USER, "Calendar", str(source))
    assert refused.returncode != 0 and "not a calendar" in (refused.stderr + refused.stdout)
    big = tmp_path / "big.ics"
    big.write_bytes(b"".join(ics(20)))
    over = run(data, "calendar", "import", USER, "Calendar", str(big),
               "--set", "web.dav.max_import_size=1024")
    assert over.returncode != 0 and "max_import_size" in (over.stderr + over.stdout)
    no_folder = run(data, "calendar", "export", USER, "Nope", str(tmp_path / "o.ics"))
    assert no_folder.returncode != 0 and not (tmp_path / "o.ics").exists()
