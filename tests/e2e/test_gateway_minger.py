"""Domain gateway with Minger verification against a destination Postroom (issue 7):
the gateway asks the destination over UDP before it accepts RCPT, caches the answers, applies
its policy when no answer comes, and delivers accepted mail to the destination host."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import cli
from tests.support.server import RunningServer, run_cli, server_config, wait_for

SECRET = "gateway-minger-secret-42"
DEST = "dest.test"




@pytest.fixture(scope="module")
def destination(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(tmp_path_factory.mktemp("destination"), extra=[
        "smtp.mx.enabled=true", "smtp.mx.port=0", "minger.enabled=true", "minger.port=0",
        f"minger.secret={SECRET}", "multipop.enabled=false"]))
    srv.call(srv.services.directory.add_domain(DEST))
    for local in ("alice", "bob", "carol"):
        account = srv.call(srv.services.directory.add_account(f"{local}@{DEST}",
                                                              "pw-dest-12345"))
        srv.call(srv.services.mailboxes.ensure_defaults(account.id, account.domain_id))
    srv.call(srv.services.directory.set_state(f"carol@{DEST}", "disabled"))
    yield srv
    srv.stop()


def minger_port(srv: RunningServer) -> int:
    return next(u.port for u in srv.server.udp if u.label == "minger")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory,
            destination: RunningServer) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(tmp_path_factory.mktemp("gateway"), extra=[
        "smtp.mx.enabled=true", "smtp.mx.port=0", "multipop.enabled=false",
        "minger.query_timeout=0.5", "smtp.outbound.retry_schedule=[1]"]))
    run_cli(srv, "gateway", "add", DEST, "--deliver-to",
            f"127.0.0.1:{destination.port('smtp')}", "--verify", "minger", "--minger-host",
            f"127.0.0.1:{minger_port(destination)}", "--minger-secret-stdin",
            stdin=SECRET + "\n")
    yield srv
    srv.stop()


def rcpt(srv: RunningServer, address: str) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=20) as s:
        s.ehlo("sender.example")
        s.mail("someone@example.org")
        return s.rcpt(address)


def inbox(srv: RunningServer, address: str) -> int:
    async def run() -> int:
        account = await srv.services.store.directory.get_account(address)
        assert account is not None
        box = await srv.services.store.mailboxes.by_name(account.id, "INBOX")
        assert box is not None
        rec = await srv.services.store.mailboxes.get(box.id)
        return rec.message_count if rec else 0
    return srv.call(run())


def test_unknown_recipient_is_rejected_after_the_destination_answered_3(
        gateway: RunningServer) -> None:
    code, text = rcpt(gateway, f"nobody@{DEST}")
    assert (code, text[:5]) == (550, b"5.1.1")


def test_known_recipient_is_accepted_and_delivered_to_the_destination(
        gateway: RunningServer, destination: RunningServer) -> None:
    assert rcpt(gateway, f"alice@{DEST}")[0] == 250
    with smtplib.SMTP("127.0.0.1", gateway.port("smtp"), timeout=20) as s:
        s.sendmail("someone@example.org", [f"alice@{DEST}"], b"Subject: via gw\r\n\r\nhi\r\n")
    wait_for(lambda: inbox(destination, f"alice@{DEST}") == 1)


def test_disabled_recipient_is_deferred(gateway: RunningServer) -> None:
    code, text = rcpt(gateway, f"carol@{DEST}")
    assert (code, text[:5]) == (450, b"4.2.1")


def test_answers_are_cached(gateway: RunningServer, destination: RunningServer) -> None:
    assert rcpt(gateway, f"bob@{DEST}")[0] == 250
    assert rcpt(gateway, f"dave@{DEST}")[0] == 550
    destination.call(destination.services.directory.set_state(f"bob@{DEST}", "disabled"))
    destination.call(destination.services.directory.add_account(f"dave@{DEST}", "pw-d-123456"))
    # within the TTLs the gateway answers from its cache, without asking
    assert rcpt(gateway, f"bob@{DEST}")[0] == 250
    assert rcpt(gateway, f"dave@{DEST}")[0] == 550
    gateway.services.gateways.cache.entries.clear()  # as if the TTLs had passed
    assert rcpt(gateway, f"bob@{DEST}")[0] == 450
    assert rcpt(gateway, f"dave@{DEST}")[0] == 250


def test_unverifiable_policy(gateway: RunningServer) -> None:
    run_cli(gateway, "gateway", "add", "silent.test", "--verify", "minger", "--minger-host",
            "127.0.0.1:9")  # nothing answers there
    code, text = rcpt(gateway, "x@silent.test")
    assert (code, text[:5]) == (450, b"4.4.3")
    run_cli(gateway, "gateway", "set", "silent.test", "--unverifiable", "accept")
    assert rcpt(gateway, "x@silent.test")[0] == 250
    out = run_cli(gateway, "gateway", "show", "silent.test")
    assert "accept" in out and "hold for ATRN" in out


def test_wrong_secret_is_unverifiable_not_unknown(gateway: RunningServer,
                                                  destination: RunningServer) -> None:
    run_cli(gateway, "gateway", "add", "wrongsecret.test", "--verify", "minger",
            "--minger-host", f"127.0.0.1:{minger_port(destination)}",
            "--minger-secret", "not-the-right-one")
    code, text = rcpt(gateway, "x@wrongsecret.test")
    assert (code, text[:5]) == (450, b"4.4.3")


def test_static_list(gateway: RunningServer, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("# the customers\none@static.test\nTwo@Static.test\n")
    run_cli(gateway, "gateway", "add", "static.test", "--verify", "static",
            "--recipients-file", str(listing))
    assert rcpt(gateway, "one@static.test")[0] == 250
    assert rcpt(gateway, "two@static.test")[0] == 250
    assert rcpt(gateway, "three@static.test")[0] == 550
    run_cli(gateway, "gateway", "set", "static.test", "--add-recipient", "three@static.test",
            "--remove-recipient", "one@static.test")
    assert rcpt(gateway, "three@static.test")[0] == 250
    assert rcpt(gateway, "one@static.test")[0] == 550


def test_minger_query_command(destination: RunningServer) -> None:
    port = str(minger_port(destination))
    ok = cli.run(Path(destination.cfg.server.data_dir), "minger", "query", "127.0.0.1",
                 f"alice@{DEST}", "--port", port, "--secret-stdin", stdin=SECRET + "\n")
    assert ok.returncode == 0 and "5 (exists and is active)" in ok.stdout
    unknown = cli.run(Path(destination.cfg.server.data_dir), "minger", "query", "127.0.0.1",
                      f"zed@{DEST}", "--port", port, "--secret", SECRET)
    assert unknown.returncode == 1 and "3 (address does not exist)" in unknown.stdout
    anon = cli.run(Path(destination.cfg.server.data_dir), "minger", "query", "127.0.0.1",
                   f"alice@{DEST}", "--port", port)
    assert anon.returncode == 1 and "2 (bad or missing credentials)" in anon.stdout
    silent = cli.run(Path(destination.cfg.server.data_dir), "minger", "query", "127.0.0.1",
                     f"alice@{DEST}", "--port", "9", "--timeout", "0.3")
    assert silent.returncode == 3 and "no answer" in silent.stderr


def test_cli_refuses_bad_gateways(gateway: RunningServer) -> None:
    for args, words in (
            (["example.test"], "our own domains"),
            (["m.test", "--verify", "minger"], "needs --minger-host"),
            (["s.test", "--verify", "static"], "at least one --recipient"),
            (["d.test", "--deliver-to", "host:port"], "port"),
            (["a.test", "--atrn-user", "nobody@example.test"], "nobody@example.test"),
            (["r.test", "--verify", "static", "--recipient", "x@other.test"], "not in r.test"),
            (["k.test", "--verify", "minger", "--minger-host", "h", "--minger-secret",
              "has space"], "visible ASCII")):
        out = run_cli(gateway, "gateway", "add", *args, ok=False)
        assert words in out, (args, out)
    run_cli(gateway, "gateway", "add", "dup.test")
    assert "already exists" in run_cli(gateway, "gateway", "add", "dup.test", ok=False)
    # and a gateway domain cannot become a hosted domain behind the gateway's back
    assert "is a gateway domain" in run_cli(gateway, "domain", "add", "dup.test", ok=False)
