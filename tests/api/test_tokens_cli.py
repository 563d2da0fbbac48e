"""``postroom token create|list|revoke`` against a running server's data directory: the token
works over the API at once, ``last_used`` is recorded, and a revocation by the CLI (another
process) stops the token within ``web.api_token_cache`` seconds (0.5 in these tests)."""

from __future__ import annotations

import json
import time

from tests.api.conftest import Clients
from tests.support.server import run_cli, wait_for


def test_cli_tokens_work_and_revocation_from_another_process_is_prompt(api: Clients) -> None:
    out = run_cli(api.srv, "token", "create", "boss@example.test", "--name", "cron job",
                  "--scope", "domain:example.test", "--expires", "30d", "--json")
    made = json.loads(out)
    assert made["scope"] == "domain:example.test" and made["token"].startswith("prt_")
    client = api.new(made["token"])
    assert client.get("/api/v1/me").json["admin"] == "example.test"
    listed = json.loads(run_cli(api.srv, "token", "list", "--owner", "boss@example.test",
                                "--json"))
    row = next(r for r in listed if r["id"] == made["id"])
    assert row["last_used"] != "never" and row["expires"] != "never"
    assert "token" not in row
    refused = run_cli(api.srv, "token", "create", "ann@example.test", "--name", "x",
                      "--scope", "admin", ok=False)
    assert "error: the owner administers nothing" in refused
    assert "error: --expires" in run_cli(api.srv, "token", "create", "ann@example.test",
                                         "--name", "x", "--expires", "soon", ok=False)
    assert f"token {made['id']} of boss@example.test revoked" in run_cli(
        api.srv, "token", "revoke", str(made["id"]))
    revoked_at = time.monotonic()
    wait_for(lambda: client.get("/api/v1/me").status == 401, timeout=5,
             what="a token revoked by the CLI stops")
    assert time.monotonic() - revoked_at < 0.5 + 4.0  # the cache bound, plus slack
    assert "already revoked" in run_cli(api.srv, "token", "revoke", str(made["id"]), ok=False)
    client.close()
