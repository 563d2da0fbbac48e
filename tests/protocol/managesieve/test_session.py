"""ManageSieve over raw sockets: greeting, STARTTLS, SASL, every command and its refusals,
and the limits (RFC 5804 §1.3, §1.7, §2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import time

from tests.protocol.managesieve.conftest import (
    IDLE,
    MAX_LINE,
    MAX_SCRIPT,
    MAX_SCRIPTS,
    RawSieve,
)
from tests.support.server import RunningServer, wait_for

FILTER = ('require ["fileinto"];\r\n'
          'if header :contains "subject" "[list]" {\r\n'
          '    fileinto "Junk";\r\n'
          '}\r\n')
MALFORMED = ('require ["fileinto"];\r\n'
             'if header :contains "subject" "x" {\r\n'
             '    fileinot "Junk";\r\n'
             '}\r\n')


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- greeting, capabilities, STARTTLS ---------------------------------------------------------

def test_greeting_lists_capabilities_and_offers_no_password_before_tls(
        sieve_server: RunningServer) -> None:
    c = RawSieve(sieve_server.port("managesieve"))
    assert c.greeted.startswith(b"OK")
    caps = c.caps
    assert caps["IMPLEMENTATION"].startswith("Postroom")
    assert caps["VERSION"] == "1.0"
    assert "STARTTLS" in caps
    assert caps["MAXREDIRECTS"] == "4"
    assert "PLAIN" not in caps["SASL"].split() and "LOGIN" not in caps["SASL"].split()
    sieve = caps["SIEVE"].split()
    for ext in ("fileinto", "envelope", "vacation", "variables", "imap4flags", "copy"):
        assert ext in sieve, ext
    assert "OWNER" not in caps and "NOTIFY" not in caps  # no enotify, not logged in
    c.close()


def test_starttls_reissues_capabilities(sieve_server: RunningServer) -> None:
    c = RawSieve(sieve_server.port("managesieve"))
    caps = c.starttls()
    assert "STARTTLS" not in caps
    assert {"PLAIN", "LOGIN", "SCRAM-SHA-256"} <= set(caps["SASL"].split())
    assert c.final("STARTTLS").startswith(b"NO")  # not twice
    c.close()


def test_starttls_drops_what_was_pipelined_in_the_clear(sieve_server: RunningServer,
                                                        user: tuple[str, str]) -> None:
    """Bytes sent after STARTTLS in the same packet are not run inside TLS (CVE-2011-0411)."""
    c = RawSieve(sieve_server.port("managesieve"))
    c.send(b'STARTTLS\r\nAUTHENTICATE "PLAIN" "' + b64(f"\0{user[0]}\0{user[1]}").encode()
           + b'"\r\n')
    assert c.line().startswith(b"OK")
    c.upgrade()
    caps, final = c.capabilities()
    assert final.startswith(b"OK") and "PLAIN" in caps["SASL"]
    # the AUTHENTICATE was dropped: still not logged in
    assert c.final("LISTSCRIPTS") == b'NO "Authenticate first"'
    c.close()


def test_capability_after_login_names_the_owner(client: RawSieve,
                                                user: tuple[str, str]) -> None:
    items, final = client.cmd("CAPABILITY")
    assert final.startswith(b"OK")
    assert f'"OWNER" "{user[0]}"'.encode() in items
    assert b'"STARTTLS"' not in items


# -- AUTHENTICATE -----------------------------------------------------------------------------

def test_plain_before_tls_needs_encryption(sieve_server: RunningServer,
                                           user: tuple[str, str]) -> None:
    c = RawSieve(sieve_server.port("managesieve"))
    line = c.final(f'AUTHENTICATE "PLAIN" "{b64(chr(0) + user[0] + chr(0) + user[1])}"')
    assert line.startswith(b"NO (ENCRYPT-NEEDED)")
    c.close()


def test_plain_with_a_continuation_as_a_literal(sieve_server: RunningServer,
                                                user: tuple[str, str]) -> None:
    """RFC 5804 §2.1: no initial response; the server's empty challenge, then the client's
    response as a literal (what sieve-connect sends)."""
    c = RawSieve(sieve_server.port("managesieve"))
    c.starttls()
    c.send(b'AUTHENTICATE "PLAIN"\r\n')
    assert c.item() == b'""'
    data = b64(f"\0{user[0]}\0{user[1]}").encode()
    c.send(b"{%d+}\r\n" % len(data) + data + b"\r\n")
    assert c.response()[1] == b'OK "Logged in"'
    assert c.final("LISTSCRIPTS").startswith(b"OK")
    c.close()


def test_login_mechanism_with_quoted_responses(sieve_server: RunningServer,
                                               user: tuple[str, str]) -> None:
    c = RawSieve(sieve_server.port("managesieve"))
    c.starttls()
    c.send(b'AUTHENTICATE "LOGIN"\r\n')
    assert base64.b64decode(c.item().strip(b'"')).lower().startswith(b"user")
    c.send(f'"{b64(user[0])}"\r\n'.encode())
    assert base64.b64decode(c.item().strip(b'"')).lower().startswith(b"pass")
    c.send(f'"{b64(user[1])}"\r\n'.encode())
    assert c.response()[1] == b'OK "Logged in"'
    c.close()


def test_abort_with_star(sieve_server: RunningServer) -> None:
    c = RawSieve(sieve_server.port("managesieve"))
    c.starttls()
    c.send(b'AUTHENTICATE "PLAIN"\r\n')
    assert c.item() == b'""'
    c.send(b'"*"\r\n')
    assert c.response()[1] == b'NO "Authentication cancelled"'
    assert c.final("NOOP").startswith(b"OK")  # the session goes on
    c.close()


def test_bad_base64_and_unknown_mechanism(sieve_server: RunningServer) -> None:
    c = RawSieve(sieve_server.port("managesieve"))
    c.starttls()
    assert c.final('AUTHENTICATE "PLAIN" "not base64!"').startswith(b"NO")
    assert c.final('AUTHENTICATE "GSSAPI"').startswith(b'NO "Unsupported mechanism')
    assert c.final('AUTHENTICATE "PL\\"AIN"').startswith(b"NO")
    c.close()


def test_failed_logins_end_the_session(sieve_server: RunningServer,
                                       user: tuple[str, str]) -> None:
    c = RawSieve(sieve_server.port("managesieve"))
    c.starttls()
    wrong = b64(f"\0{user[0]}\0wrong")
    for _ in range(2):
        assert c.final(f'AUTHENTICATE "PLAIN" "{wrong}"') == b'NO "Authentication failed"'
    c.send(f'AUTHENTICATE "PLAIN" "{wrong}"\r\n'.encode())
    assert c.line() == b'NO "Authentication failed"'
    assert c.line().startswith(b"BYE")
    assert c.closed()


def scram(c: RawSieve, user: str, password: str) -> bytes:
    """SCRAM-SHA-256 (RFC 5802, written from the RFC) framed the ManageSieve way: the
    server's final message comes in ``OK (SASL "...")`` (RFC 5804 §2.1)."""
    nonce = base64.b64encode(os.urandom(12)).decode()
    first_bare = f"n={user},r={nonce}"
    c.send(f'AUTHENTICATE "SCRAM-SHA-256" "{b64("n,," + first_bare)}"\r\n'.encode())
    server_first = base64.b64decode(c.item().strip(b'"')).decode()
    attrs = dict(item.split("=", 1) for item in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    without = f"c={b64('n,,')},r={attrs['r']}"
    auth_msg = f"{first_bare},{server_first},{without}".encode()
    sig = hmac.new(hashlib.sha256(client_key).digest(), auth_msg, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig, strict=True))
    c.send(f'"{b64(without + ",p=" + base64.b64encode(proof).decode())}"\r\n'.encode())
    final = c.response()[1]
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    expected = b"v=" + base64.b64encode(hmac.new(server_key, auth_msg, hashlib.sha256).digest())
    if final.startswith(b"OK"):
        assert final.startswith(b'OK (SASL "' + base64.b64encode(expected) + b'")'), final
    return final


def test_scram_sends_its_final_message_in_the_ok(sieve_server: RunningServer,
                                                 user: tuple[str, str]) -> None:
    c = RawSieve(sieve_server.port("managesieve"))
    c.starttls()
    assert scram(c, *user).startswith(b"OK (SASL")
    assert c.final("LISTSCRIPTS").startswith(b"OK")
    c.close()
    other = RawSieve(sieve_server.port("managesieve"))
    other.starttls()
    assert scram(other, user[0], "not the password").startswith(b"NO")
    other.close()


def test_commands_need_authentication_and_unauthenticate(
        sieve_server: RunningServer, user: tuple[str, str]) -> None:
    c = RawSieve(sieve_server.port("managesieve"))
    for command in ("LISTSCRIPTS", 'GETSCRIPT "x"', 'HAVESPACE "x" 10', "UNAUTHENTICATE"):
        assert c.final(command) == b'NO "Authenticate first"', command
    assert c.login(*user).startswith(b"OK")
    assert c.final("STARTTLS").startswith(b"NO")
    assert c.final('AUTHENTICATE "PLAIN" "AA=="').startswith(b"NO")  # already in
    assert c.final("UNAUTHENTICATE").startswith(b"OK")  # RFC 5804 §2.14.1
    assert c.final("LISTSCRIPTS") == b'NO "Authenticate first"'
    b = b64(f"\0{user[0]}\0{user[1]}")
    assert c.final(f'AUTHENTICATE "PLAIN" "{b}"').startswith(b"OK")  # TLS stayed
    c.close()


# -- scripts ----------------------------------------------------------------------------------

def test_put_list_activate_get_rename_delete(client: RawSieve) -> None:
    assert client.putscript("lists", FILTER) == b'OK "Script stored"'
    assert client.putscript("other", "keep;\r\n") == b'OK "Script stored"'
    assert client.cmd("LISTSCRIPTS") == ([b'"lists"', b'"other"'],
                                         b'OK "Listscripts completed"')
    assert client.final('SETACTIVE "lists"').startswith(b"OK")
    items, final = client.cmd("LISTSCRIPTS")
    assert sorted(items) == [b'"lists" ACTIVE', b'"other"']
    items, final = client.cmd('GETSCRIPT "lists"')
    assert final.startswith(b"OK") and items == [FILTER.encode()]
    # RFC 5804 §2.9: the script is a literal {n}, its octets exactly
    client.send(b'GETSCRIPT "lists"\r\n')
    assert client.line() == b"{%d}" % len(FILTER.encode())
    assert client.read_exact(len(FILTER.encode())) == FILTER.encode()
    assert client.line() == b""
    assert client.line().startswith(b"OK")
    assert client.final('DELETESCRIPT "lists"').startswith(b"NO (ACTIVE)")
    assert client.final('RENAMESCRIPT "lists" "other"').startswith(b"NO (ALREADYEXISTS)")
    assert client.final('RENAMESCRIPT "nope" "x"').startswith(b"NO (NONEXISTENT)")
    assert client.final('RENAMESCRIPT "lists" "sorting"').startswith(b"OK")
    items, _ = client.cmd("LISTSCRIPTS")
    assert b'"sorting" ACTIVE' in items  # RFC 5804 §2.11.1: active under its new name
    assert client.final('SETACTIVE ""').startswith(b"OK")  # none active
    items, _ = client.cmd("LISTSCRIPTS")
    assert not any(i.endswith(b"ACTIVE") for i in items)
    assert client.final('DELETESCRIPT "sorting"').startswith(b"OK")
    assert client.final('GETSCRIPT "sorting"').startswith(b"NO (NONEXISTENT)")
    assert client.final('DELETESCRIPT "sorting"').startswith(b"NO (NONEXISTENT)")
    assert client.final('SETACTIVE "sorting"').startswith(b"NO (NONEXISTENT)")


def test_malformed_script_is_refused_with_its_line(client: RawSieve) -> None:
    """Issue acceptance: PUTSCRIPT of a malformed script names the line (and column)."""
    line = client.putscript("broken", MALFORMED)
    assert line.startswith(b'NO "line 3, column 5: '), line
    assert b"fileinot" in line
    assert client.cmd("LISTSCRIPTS")[0] == []  # nothing stored
    line = client.final(b"CHECKSCRIPT {%d+}\r\n" % len(MALFORMED) + MALFORMED.encode())
    assert line.startswith(b'NO "line 3, column 5: ')
    assert client.final(b"CHECKSCRIPT {7+}\r\nkeep;\r\n").startswith(b"OK")
    # a script that is not UTF-8 (RFC 5228 §2.1) is refused the same way
    assert client.putscript("latin", b'# caf\xe9\r\nkeep;\r\n').startswith(b'NO "line 1')


def test_every_error_is_named(client: RawSieve) -> None:
    line = client.putscript("two", 'require "fileinto";\r\nfileinot "a";\r\nkeap;\r\n')
    assert line.startswith(b'NO "line 2, column 1: unknown command \'fileinot\'')
    assert b"; line 3, column 1: unknown command 'keap'" in line


def test_warnings_come_in_the_ok(client: RawSieve) -> None:
    line = client.putscript("typo", 'require "fileinto";\r\nfileinto "No such folder";\r\n')
    assert line.startswith(b'OK (WARNINGS) "line 2'), line


def test_synchronising_literal_and_utf8_names(client: RawSieve) -> None:
    script = b"keep;\r\n"
    name = "Régles d'été".encode()
    client.send(b'PUTSCRIPT "' + name + b'" {%d}\r\n' % len(script) + script + b"\r\n")
    assert client.response()[1].startswith(b"OK")
    assert client.cmd("LISTSCRIPTS")[0] == [b'"' + name + b'"']
    assert client.final(b'GETSCRIPT {%d+}\r\n' % len(name) + name).startswith(b"OK")
    # RFC 5804 §1.6: no control characters in names
    assert client.putscript("tab\there", script).startswith(b'NO "a script name')
    assert client.final(b'PUTSCRIPT "\xff" {7+}\r\nkeep;\r\n').startswith(b"NO")


def test_quotas(client: RawSieve) -> None:
    assert client.final('HAVESPACE "a" 100') == b'OK "Putscript would succeed"'
    assert client.final(f'HAVESPACE "a" {MAX_SCRIPT + 1}').startswith(b"NO (QUOTA/MAXSIZE)")
    assert client.final('HAVESPACE "a" 12x').startswith(b"NO")
    for i in range(MAX_SCRIPTS):
        assert client.putscript(f"s{i}", "keep;\r\n").startswith(b"OK")
    assert client.final('HAVESPACE "one more" 10').startswith(b"NO (QUOTA/MAXSCRIPTS)")
    assert client.putscript("one more", "keep;\r\n").startswith(b"NO (QUOTA/MAXSCRIPTS)")
    assert client.final('HAVESPACE "s0" 10').startswith(b"OK")  # replacing is fine
    assert client.putscript("s0", "stop;\r\n").startswith(b"OK")
    big = "#" * (MAX_SCRIPT + 10) + "\r\n"
    assert client.putscript("s1", big).startswith(b"NO (QUOTA/MAXSIZE)")
    assert client.final("NOOP").startswith(b"OK")  # the literal was read and dropped


def test_noop_with_tag(client: RawSieve) -> None:
    assert client.final('NOOP "STARTTLS-RESYNC-CAPA"') == \
        b'OK (TAG "STARTTLS-RESYNC-CAPA") "Done"'
    assert client.final("NOOP") == b'OK "Done"'


def test_logout(client: RawSieve) -> None:
    assert client.final("LOGOUT") == b'OK "Logout completed"'
    assert client.closed()


# -- bad input --------------------------------------------------------------------------------

def test_garbage_gets_no_then_bye(sieve_server: RunningServer) -> None:
    c = RawSieve(sieve_server.port("managesieve"))
    assert c.final("FROB") == b'NO "Unknown command FROB"'
    assert c.final('NOOP "unterminated').startswith(b'NO "Unterminated')
    assert c.final("CAPABILITY extra").startswith(b'NO "CAPABILITY takes 0')
    assert c.final(b"\x00\x01\x02").startswith(b"NO")
    c.send(b"FROB\r\n" * 20)  # one write: the server may close before reading them all
    lines = [c.line() for _ in range(16)]  # four bad commands above: twenty in all
    assert all(line.startswith(b"NO") for line in lines)
    assert c.line().startswith(b'BYE "Too many invalid commands"')
    assert c.closed()


def test_long_line_is_refused_and_the_session_goes_on(client: RawSieve) -> None:
    client.send(b'NOOP "' + b"x" * (MAX_LINE + 10) + b'"\r\n')
    assert client.line().startswith(b'NO "Line too long')
    assert client.final("NOOP") == b'OK "Done"'


def test_literal_bounds(sieve_server: RunningServer, client: RawSieve) -> None:
    # a literal bigger than a script may be, on another command: read, dropped, refused
    client.send(b"NOOP {%d+}\r\n" % (MAX_SCRIPT + 1) + b"a" * (MAX_SCRIPT + 1) + b"\r\n")
    assert client.line().startswith(b'NO "Literal too big')
    assert client.final("NOOP") == b'OK "Done"'
    # far beyond: the session ends instead of reading on
    client.send(b'PUTSCRIPT "x" {99999999+}\r\n')
    line = client.line()
    assert line.startswith(b"BYE (QUOTA/MAXSIZE)"), line
    assert client.closed()
    # before authentication a literal is small (SASL data, a name)
    c = RawSieve(sieve_server.port("managesieve"))
    c.send(b"NOOP {100000+}\r\n")
    assert c.line().startswith(b'BYE "Literal too big before authentication')
    assert c.closed()


def test_idle_connection_is_closed(sieve_server: RunningServer) -> None:
    c = RawSieve(sieve_server.port("managesieve"))
    started = time.monotonic()
    c.sock.settimeout(IDLE + 20)
    assert c.line() == b'BYE (TRYLATER) "Idle for too long, closing"'
    assert IDLE - 1 <= time.monotonic() - started < IDLE + 15
    assert c.closed()


def test_dropped_connection_mid_literal(sieve_server: RunningServer,
                                        user: tuple[str, str]) -> None:
    """A client that goes away in the middle of a literal leaves nothing behind."""
    c = RawSieve(sieve_server.port("managesieve"))
    c.login(*user)
    c.send(b'PUTSCRIPT "half" {100+}\r\nkeep;')
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    again = RawSieve(sieve_server.port("managesieve"))
    again.login(*user)
    assert again.cmd("LISTSCRIPTS")[0] == []
    again.close()


def command_count(srv: RunningServer, command: str) -> float:
    """``postroom_command_duration_seconds_count{protocol="managesieve",command=...}``."""
    for family in srv.services.metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "postroom_command_duration_seconds_count" and \
                    sample.labels == {"protocol": "managesieve", "command": command}:
                return float(sample.value)
    return 0.0


def test_commands_are_counted_and_audited(sieve_server: RunningServer,
                                          client: RawSieve, user: tuple[str, str]) -> None:
    count = command_count(sieve_server, "PUTSCRIPT")
    assert client.putscript("counted", "keep;\r\n").startswith(b"OK")
    wait_for(lambda: command_count(sieve_server, "PUTSCRIPT") == count + 1)
    assert client.final("FROB").startswith(b"NO")
    assert command_count(sieve_server, "other") >= 1  # unknown verbs: one bounded label
    found = sieve_server.call(sieve_server.services.audit.list(target=user[0]))
    assert any(r.action == "sieve.put" and r.origin == "managesieve:127.0.0.1"
               for r in found), found
