"""Minger server on the real UDP listener, driven by raw datagrams built from the draft's
grammar (draft-hathcock-minger-06 §2–§4; every [TEST] line of specs.md §6, and more)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
from collections.abc import Iterator

import pytest

from postroom.core.actor import Origin
from postroom.core.errors import MailError
from postroom.core.principal import Principal
from postroom.net.minger import MingerError, query
from tests.support.server import RunningServer, server_config

SECRET = "minger-secret-0123456789"


def digest(secret: str, mailbox: str) -> str:
    """§2.1, written out here rather than imported: base64(MD5(secret ":" mailbox))."""
    return base64.b64encode(hashlib.md5(f"{secret}:{mailbox}".encode()).digest()).decode()


def ask(port: int, datagram: bytes, source: str = "127.0.0.1",
        timeout: float = 2.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(datagram, ("127.0.0.1", port))
        try:
            return s.recv(2048)
        except TimeoutError:
            return None


def minger_port(srv: RunningServer) -> int:
    return next(u.port for u in srv.server.udp if u.label == "minger")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(server_config(tmp_path_factory.mktemp("minger"), extra=[
        "minger.enabled=true", "minger.port=0", f"minger.secret={SECRET}",
        "minger.allowed_networks=[\"127.0.0.1/32\"]", "minger.rate_limit=1000",
        "multipop.enabled=false"]))
    yield server
    server.stop()


def signed(address: str, secret: str = SECRET) -> bytes:
    return f"{address} d={digest(secret, address)}".encode()


def test_digest_per_formula_is_accepted(srv: RunningServer) -> None:
    user, _ = srv.add_user()
    assert ask(minger_port(srv), signed(user)) == f"{user} 5".encode()


def test_wrong_digest_is_2(srv: RunningServer) -> None:
    user, _ = srv.add_user()
    assert ask(minger_port(srv), signed(user, "another-secret")) == f"{user} 2".encode()
    # a digest over a different mailbox does not carry over
    other, _ = srv.add_user()
    assert ask(minger_port(srv), f"{user} d={digest(SECRET, other)}".encode()) == \
        f"{user} 2".encode()


def test_no_digest_with_anonymous_off_is_2(srv: RunningServer) -> None:
    user, _ = srv.add_user()
    assert ask(minger_port(srv), user.encode()) == f"{user} 2".encode()


@pytest.mark.parametrize("datagram", [
    b"", b"garbage", b"no-at-sign d=xyz", b"\xff\xfe\x00binary", b"user@example.test  5",
    b"user@example.test d=not*base64", b"user@example.test d=" + base64.b64encode(b"short"),
    b"user@example.test tag", b"user@example.test a=1 a=2", b"user@example.test d=1 x",
    b"user@example.test x=1 " + f"d={digest(SECRET, 'user@example.test')}".encode(),
    b"a@b.test\x00", b"x" * 2000 + b"@example.test",
])
def test_garbage_is_0(srv: RunningServer, datagram: bytes) -> None:
    reply = ask(minger_port(srv), datagram)
    assert reply is not None and reply.endswith(b"0")
    assert len(reply) <= max(len(datagram), 1) + 2  # never an amplifier


def test_unknown_address_is_3(srv: RunningServer) -> None:
    for address in ("nobody@example.test", "someone@not-ours.example"):
        assert ask(minger_port(srv), signed(address)) == f"{address} 3".encode()


def test_disabled_account_is_4(srv: RunningServer) -> None:
    user, _ = srv.add_user()
    srv.call(srv.services.directory.set_state(user, "disabled"))
    assert ask(minger_port(srv), signed(user)) == f"{user} 4".encode()


def test_full_mailbox_is_4(srv: RunningServer) -> None:
    from tests.protocol.pop3.conftest import deliver, message

    user, _ = srv.add_user()
    deliver(srv, user, message("fills the quota"))
    srv.call(srv.services.store.directory.update_account(user, quota_bytes=10))
    assert ask(minger_port(srv), signed(user)) == f"{user} 4".encode()


def test_source_outside_allowed_networks_is_1(srv: RunningServer) -> None:
    user, _ = srv.add_user()
    assert ask(minger_port(srv), signed(user), source="127.0.0.2") == f"{user} 1".encode()


def test_aliases_groups_and_public_folders_are_5(srv: RunningServer) -> None:
    user, _ = srv.add_user()
    d = srv.services.directory
    srv.call(d.add_alias("alias-m@example.test", [user]))
    srv.call(d.add_group("group-m@example.test", [user]))
    with pytest.raises(MailError, match="no account, alias, group or public folder"):
        srv.call(d.add_alias("nowhere-m@example.test", ["gone-m@example.test"]))
    op = Principal.operator()
    srv.call(srv.services.mailboxes.create(op, "Public Folders/Minger",
                                           address="board-m@example.test"))
    port = minger_port(srv)
    assert ask(port, signed("alias-m@example.test")) == b"alias-m@example.test 5"
    assert ask(port, signed("group-m@example.test")) == b"group-m@example.test 5"
    # an outside sender may not post yet (no p for anyone): exists, cannot receive
    assert ask(port, signed("board-m@example.test")) == b"board-m@example.test 4"
    srv.call(srv.services.acl.set(op, "Public Folders/Minger", "anyone", "p",
                                  Origin("test", "local")))
    assert ask(port, signed("board-m@example.test")) == b"board-m@example.test 5"
    plus = user.replace("@", "+tag@")
    assert ask(port, signed(plus)) == f"{plus} 5".encode()


def test_unknown_tags_are_ignored(srv: RunningServer) -> None:
    user, _ = srv.add_user()
    assert ask(minger_port(srv), signed(user) + b" client=test version=2_0") == \
        f"{user} 5".encode()


def test_trailing_newline_and_case_of_the_mailbox_are_kept(srv: RunningServer) -> None:
    user, _ = srv.add_user()
    upper = user.upper()
    assert ask(minger_port(srv), signed(upper) + b"\r\n") == f"{upper} 5".encode()


def test_our_client_speaks_to_our_server(srv: RunningServer) -> None:
    user, _ = srv.add_user()
    port = minger_port(srv)
    assert asyncio.run(query("127.0.0.1", port, user, SECRET)) == 5
    assert asyncio.run(query("127.0.0.1", port, user, "wrong")) == 2
    assert asyncio.run(query("127.0.0.1", port, "x@nowhere.test", SECRET)) == 3
    with pytest.raises(MingerError):  # nobody listens there
        asyncio.run(query("127.0.0.1", 9, user, SECRET, timeout=0.2, attempts=2))


def test_rate_limit_falls_silent(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = RunningServer(server_config(tmp_path_factory.mktemp("minger-rl"), extra=[
        "minger.enabled=true", "minger.port=0", "minger.allow_anonymous=true",
        "minger.rate_limit=3", "multipop.enabled=false"]))
    try:
        port = minger_port(server)
        answers = [ask(port, b"x@example.test", timeout=0.5) for _ in range(5)]
        assert answers[:3] == [b"x@example.test 3"] * 3
        assert answers[3:] == [None, None]
        # another source address has its own allowance
        assert ask(port, b"x@example.test", source="127.0.0.3") == b"x@example.test 3"
    finally:
        server.stop()


def test_anonymous_mode_answers_without_digest(tmp_path_factory: pytest.TempPathFactory,
                                               ) -> None:
    server = RunningServer(server_config(tmp_path_factory.mktemp("minger-anon"), extra=[
        "minger.enabled=true", "minger.port=0", "minger.allow_anonymous=true",
        "multipop.enabled=false"]))
    try:
        user, _ = server.add_user()
        port = minger_port(server)
        assert ask(port, user.encode()) == f"{user} 5".encode()
        # no secret configured: a digest cannot be checked, the query is anonymous
        assert ask(port, signed(user)) == f"{user} 5".encode()
        assert ask(port, b"nobody@example.test") == b"nobody@example.test 3"
    finally:
        server.stop()
