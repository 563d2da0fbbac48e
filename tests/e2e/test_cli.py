"""The CLI as an administrator meets it: clear one-line errors, JSON, bulk import."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.cli import run


@pytest.fixture
def home(tmp_path: Path) -> Path:
    data = tmp_path / "var"
    assert run(data, "domain", "add", "example.com").returncode == 0
    assert run(data, "user", "add", "alice@example.com", "--password", "s3cret-pw",
               "--name", "Alice").returncode == 0
    return data


@pytest.mark.parametrize("args,needle", [
    (["domain", "add", "bad_domain"], "not a valid domain name"),
    (["domain", "add", "example.com"], "already exists"),
    (["domain", "remove", "example.com"], "still has 1 accounts"),
    (["domain", "show", "nowhere.example"], "unknown domain"),
    (["user", "add", "alice@example.com", "--password", "x"], "already exists as an account"),
    (["user", "add", "bob@unknown.example", "--password", "x"], "unknown domain"),
    (["user", "add", "bad address@example.com", "--password", "x"], "not a valid local part"),
    (["user", "add", "no-at-sign", "--password", "x"], "user@domain"),
    (["user", "add", "bob@example.com", "--password", ""], "password is empty"),
    (["user", "add", "bob@example.com"], "give a password"),
    (["user", "add", "bob@example.com", "--password", "x", "--quota", "lots"], "not a size"),
    (["user", "show", "ghost@example.com"], "no account ghost@example.com"),
    (["user", "add", "x@exa mple.com", "--password", "x"], "not a valid domain"),
    (["user", "add", "x@xn--zz.example", "--password", "x"], "not a valid domain"),
    (["alias", "add", "a@example.com", "a@example.com"], "cannot point to itself"),
    (["alias", "add", "alice@example.com", "b@elsewhere.example"], "already exists as an account"),
    (["alias", "add", "a@example.com", "bbo@example.com"],
     "no account, alias, group or public folder bbo@example.com"),
    (["group", "add", "g@example.com", "--member", "bbo@example.com"],
     "no account, alias, group or public folder bbo@example.com"),
    (["acl", "set", "alice@example.com", "INBOX", "bbo", "lr"], "no account bbo@example.com"),
    (["acl", "set", "alice@example.com", "INBOX", "$nogroup", "lr"],
     "no group nogroup@example.com"),
    (["group", "member", "add", "g@example.com", "alice@example.com"], "no group"),
    (["admin", "grant", "alice@example.com"], "--global or --domain"),
    (["acl", "set", "alice@example.com", "INBOX", "bob", "lrQ"], "invalid ACL right 'Q'"),
    (["acl", "get", "alice@example.com", "Nope"], "Mailbox doesn't exist: Nope"),
    (["acl", "get", "alice@example.com"], "acl get takes ADDRESS FOLDER"),
    (["folder", "create", "alice@example.com", "a//b"], "empty level"),
    (["folder", "create", "--public"], "folder create takes --public NAME"),
    (["import", "mbox", "alice@example.com", "/nonexistent/file"], "no such file"),
    (["config", "check", "/nonexistent.toml"], "no such config file"),
    (["--set", "x"], "error:"),
    (["serve", "--set", "server.bogus=1"], "server.bogus: unknown key"),
])
def test_bad_input_one_line_error(home: Path, args: list[str], needle: str) -> None:
    result = run(home, *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    err_lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(err_lines) == 1, result.stderr
    assert needle in result.stderr, result.stderr


def test_json_and_show(home: Path) -> None:
    out = run(home, "user", "list", "--json")
    assert out.returncode == 0
    [row] = json.loads(out.stdout)
    assert row["address"] == "alice@example.com" and row["name"] == "Alice"
    out = run(home, "domain", "list", "--json")
    assert json.loads(out.stdout)[0]["domain"] == "example.com"
    assert run(home, "user", "passwd", "alice@example.com", "--password-stdin",
               stdin="new password\n").returncode == 0
    out = run(home, "folder", "list", "alice@example.com", "--json")
    assert {r["folder"] for r in json.loads(out.stdout)} >= {"INBOX", "Sent", "Trash"}
    assert run(home, "--help").returncode == 0
    assert "ADDRESS" in run(home, "acl", "set", "--help").stdout


def test_config_commands(tmp_path: Path) -> None:
    example = run(tmp_path, "config", "example")
    assert example.returncode == 0 and "[minger]" in example.stdout
    path = tmp_path / "p.toml"
    path.write_text(example.stdout)
    assert run(tmp_path, "config", "check", str(path)).stdout.strip().endswith("OK")
    path.write_text("[minger]\nenabled = \"maybe\"\n")
    bad = run(tmp_path, "config", "check", str(path))
    assert bad.returncode == 2 and "minger.enabled: expected `bool`" in bad.stderr


def test_user_import_csv_thousand_accounts(home: Path, tmp_path: Path) -> None:
    csv = tmp_path / "users.csv"
    lines = ["address,password,name,quota"]
    lines += [f"user{i:04d}@example.com,pw-{i:08d},User {i},1G" for i in range(1000)]
    csv.write_text("\n".join(lines) + "\n")
    t0 = time.monotonic()
    result = run(home, "user", "import", str(csv), timeout=300)
    elapsed = time.monotonic() - t0
    assert result.returncode == 0, result.stderr
    assert "1000 accounts imported" in result.stdout
    print(f"\n1000 accounts imported in {elapsed:.1f}s")
    users = json.loads(run(home, "user", "list", "--json").stdout)
    assert len(users) == 1001 and users[1]["quota"] == 1024**3  # 1G: a number in JSON
    bad = tmp_path / "bad.csv"
    bad.write_text("ok@example.com,pw\nbroken line\n")
    result = run(home, "user", "import", str(bad))
    assert result.returncode == 1 and "bad.csv:2" in result.stderr
    assert len(json.loads(run(home, "user", "list", "--json").stdout)) == 1001  # all or nothing


def test_public_folders_and_apply_to_subfolders(home: Path) -> None:
    """``folder create --public`` with an address; inheritance is a copy at creation; the
    administrator's ``--apply-to-subfolders`` copies a folder's ACL onto every descendant."""
    def ok(*args: str) -> str:
        result = run(home, *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    ok("folder", "create", "--public", "News", "--folder-address", "news@example.com")
    ok("folder", "create", "--public", "News/Archive")
    ok("acl", "set", "--public", "News", "anyone", "lrp")
    assert json.loads(ok("acl", "get", "--public", "News/Archive", "--json")) == []
    out = ok("acl", "set", "--public", "News", "anyone", "lrp", "--apply-to-subfolders")
    assert "copied onto 1 subfolders" in out
    assert json.loads(ok("acl", "get", "--public", "News/Archive", "--json")) == [
        {"identifier": "anyone", "rights": "lrp"}]
    rows = json.loads(ok("folder", "list", "--public", "--json"))
    assert {r["folder"]: r["address"] for r in rows} == {"News": "news@example.com",
                                                         "News/Archive": None}
    # Alice's own folders: the same commands, in her namespace.
    ok("folder", "create", "alice@example.com", "Projects/Alpha")
    ok("user", "add", "bob@example.com", "--password", "bob password 1")
    ok("acl", "set", "alice@example.com", "Projects", "bob", "lr", "--apply-to-subfolders")
    assert json.loads(ok("acl", "get", "alice@example.com", "Projects/Alpha", "--json")) == [
        {"identifier": "bob@example.com", "rights": "lr"}]


def test_audit_list_shows_who_changed_what_and_from_where(home: Path) -> None:
    assert run(home, "folder", "create", "alice@example.com", "Projects").returncode == 0
    assert run(home, "acl", "set", "alice@example.com", "Projects", "anyone", "lr").returncode \
        == 0
    assert run(home, "user", "disable", "alice@example.com").returncode == 0
    result = run(home, "audit", "list", "--json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["action"] for r in records] == ["user.set", "acl.set", "folder.create",
                                              "user.add", "domain.add"]
    assert all(r["actor"] == "operator" and r["origin"].startswith("cli:") for r in records)
    assert records[0]["target"] == "alice@example.com"
    assert records[0]["detail"] == {"state": "disabled"}
    table = run(home, "audit", "list", "--action", "acl", "--since", "1h")
    assert "acl.set" in table.stdout and "user.add" not in table.stdout
    bad = run(home, "audit", "list", "--since", "yesterday-ish")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_user_remove_asks_for_yes_and_says_what_would_go(home: Path) -> None:
    """Removing an account deletes its mail: without ``--yes`` nothing happens and the
    refusal says how much would be lost."""
    result = run(home, "user", "remove", "alice@example.com")
    assert result.returncode == 2
    assert "alice@example.com owns" in result.stderr and "messages" in result.stderr
    assert "--yes" in result.stderr
    assert run(home, "user", "show", "alice@example.com").returncode == 0
    result = run(home, "user", "remove", "alice@example.com", "--yes")
    assert result.returncode == 0, result.stderr
    assert "removed with its" in result.stdout
    assert run(home, "user", "show", "alice@example.com").returncode == 1


def test_status_on_a_server_without_filters_reports_nothing_wrong(home: Path) -> None:
    """spamd and clamd neither configured nor running is the default, not an error: status
    says how to use them instead of printing connection failures."""
    closed = "127.0.0.1:9"  # discard: nothing listens there on a test machine
    result = run(home, "status", "--set", f"pipeline.spamd.address={closed}",
                 "--set", f"pipeline.clamav.address={closed}")
    assert result.returncode == 0, result.stderr
    assert "spamd           not used (add 'spamd' to pipeline.checks" in result.stdout
    assert "clamd           not used (add 'clamav' to pipeline.checks" in result.stdout
    assert "error" not in result.stdout
