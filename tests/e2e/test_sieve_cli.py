"""``postroom sieve …`` as an administrator runs it, on the data directory of a running
server: what the CLI stores, ManageSieve serves, and the other way round; a bad script is
refused with its line, column and a caret; exit codes 0 / 1 / 2 (docs/sieve.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.protocol.managesieve.conftest import RawSieve
from tests.support import cli
from tests.support.server import RunningServer, server_config

FILTER = 'require ["fileinto"];\nif header :contains "subject" "[list]" {\n  fileinto "Junk";\n}\n'
BAD = 'require ["fileinto"];\nif true {\n  fileinot "Junk";\n}\n'


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(server_config(tmp_path_factory.mktemp("sieve-cli")))
    yield server
    server.stop()


def postroom(srv: RunningServer, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = cli.run(Path(srv.cfg.server.data_dir), "sieve", *args, stdin=stdin)
    return result.returncode, result.stdout, result.stderr


def test_put_list_get_activate_rename_delete(srv: RunningServer, tmp_path: Path) -> None:
    user, password = srv.add_user()
    script = tmp_path / "lists.sieve"
    script.write_text(FILTER)
    assert postroom(srv, "put", "--user", user, "lists", str(script))[0] == 0
    code, out, _ = postroom(srv, "put", "--user", user, "spare", "--activate",
                            stdin="keep;\n")
    assert code == 0 and "active" in out
    code, out, _ = postroom(srv, "list", "--user", user, "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["spare"]["active"] and not rows["lists"]["active"]
    assert rows["lists"]["size"] == len(FILTER.encode())
    assert postroom(srv, "get", "--user", user, "lists")[1] == FILTER
    # ManageSieve sees what the CLI stored
    c = RawSieve(srv.port("managesieve"))
    assert c.login(user, password).startswith(b"OK")
    assert sorted(c.cmd("LISTSCRIPTS")[0]) == [b'"lists"', b'"spare" ACTIVE']
    assert c.putscript("from-client", "stop;\r\n").startswith(b"OK")
    c.close()
    # (text mode reads the script's CRLF as a newline)
    assert postroom(srv, "get", "--user", user, "from-client")[1] == "stop;\n"
    code, _, err = postroom(srv, "delete", "--user", user, "spare")
    assert code == 1 and "active" in err
    assert postroom(srv, "rename", "--user", user, "spare", "kept")[0] == 0
    assert postroom(srv, "deactivate", "--user", user)[0] == 0
    assert postroom(srv, "delete", "--user", user, "kept")[0] == 0
    assert postroom(srv, "activate", "--user", user, "lists")[0] == 0
    code, out, _ = postroom(srv, "list", "--user", user)
    assert code == 0 and "lists" in out and "kept" not in out


def test_bad_script_shows_line_column_and_caret(srv: RunningServer, tmp_path: Path) -> None:
    user, _ = srv.add_user()
    bad = tmp_path / "bad.sieve"
    bad.write_text(BAD)
    code, _, err = postroom(srv, "put", "--user", user, "bad", str(bad))
    assert code == 1
    assert f"error: {bad}: line 3, column 3: unknown command 'fileinot'" in err
    assert '  3 |   fileinot "Junk";\n    |   ^' in err
    assert postroom(srv, "list", "--user", user, "--json")[1].strip() == "[]"
    code, _, err = postroom(srv, "check", stdin=BAD)
    assert code == 1 and "<stdin>: line 3, column 3" in err
    code, _, err = postroom(srv, "check", stdin='require "fileinto";\nfileinot "a";\nkeap;\n')
    assert code == 1
    assert "<stdin>: line 2, column 1" in err and "<stdin>: line 3, column 1" in err
    assert "  3 | keap;\n    | ^" in err
    code, out, _ = postroom(srv, "check", stdin="keep;\n")
    assert code == 0 and out == "<stdin>: valid\n"
    code, out, err = postroom(srv, "check", "--user", user,
                              stdin='require "fileinto";\nfileinto "Nope";\n')
    assert code == 0 and "warning: <stdin>: line 2: fileinto 'Nope'" in err
    # valid but probably not meant: a warning, and the script is stored
    code, _, err = postroom(srv, "put", "--user", user, "typo",
                            stdin='require "fileinto";\nfileinto "Nope";\n')
    assert code == 0 and "warning: <stdin>: line 2: fileinto 'Nope': no such folder" in err


def test_admin_scripts(srv: RunningServer) -> None:
    assert postroom(srv, "admin", "put", "--scope", "global", "--phase", "before",
                    stdin="keep;\n")[0] == 0
    assert postroom(srv, "admin", "get", "--scope", "global", "--phase", "before")[1] == \
        "keep;\n"
    code, _, err = postroom(srv, "admin", "get", "--scope", "example.test", "--phase", "after")
    assert code == 1 and "no script" in err
    code, _, err = postroom(srv, "admin", "put", "--scope", "example.test", "--phase",
                            "after", stdin=BAD)
    assert code == 1 and "line 3, column 3" in err
    assert postroom(srv, "admin", "remove", "--scope", "global", "--phase", "before")[0] == 0
    code, _, err = postroom(srv, "admin", "get", "--scope", "nowhere.test", "--phase", "after")
    assert code == 1 and "unknown domain" in err


def test_errors_and_usage(srv: RunningServer) -> None:
    code, _, err = postroom(srv, "list", "--user", "nobody@example.test")
    assert code == 1 and "no account nobody@example.test" in err
    user, _ = srv.add_user()
    code, _, err = postroom(srv, "get", "--user", user, "missing")
    assert code == 1 and "no script missing" in err
    code, _, err = postroom(srv, "put", "--user", user, "bad\tname", stdin="keep;\n")
    assert code == 1 and "control characters" in err
    assert postroom(srv, "list")[0] == 2  # --user is required
    assert postroom(srv, "admin", "get", "--scope", "global", "--phase", "during")[0] == 2
    code, out, _ = postroom(srv, "--help")
    assert code == 0 and "admin" in out and "check" in out
