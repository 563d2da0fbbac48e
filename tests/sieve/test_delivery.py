"""Sieve at delivery, over real SMTP and IMAP (services/sieve/filter.py, services/delivery.py):
fileinto into a folder seen over IMAP, flags and keywords, discard, reject with a notice to the
sender, :create, header edits on the delivered copy, limits and errors keeping the message in
INBOX with the cause logged, the fileinto right, administrators' scripts before and after the
user's, the body read only when a body test asks, and the mail log naming the action."""

from __future__ import annotations

import email
import imaplib
import re
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.core.actor import Actor, Origin
from postroom.core.principal import Principal
from tests.support.logs import server_log
from tests.support.server import RunningServer, server_config, wait_for
from tests.support.tls import insecure_context

SENDER = "someone@example.net"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("sieve-delivery")
    server = RunningServer(server_config(data, extra=[
        "smtp.mx.enabled=true", "smtp.mx.port=0", "limits.max_message_size=2000000",
        "sieve.max_actions=6", "sieve.max_steps=2000", "sieve.max_body_size=65536",
        # a resolver that never answers: notices to remote senders stay queued
        "smtp.outbound.dns_servers=[\"127.0.0.1:9\"]"]))
    yield server
    server.stop()


def user(srv: RunningServer, script: str | None, name: str = "u") -> tuple[str, str]:
    """A new account of example.test with ``script`` stored and active."""
    address, password = srv.add_user(name)
    if script is not None:
        install(srv, address, script)
    return address, password


def principal(srv: RunningServer, address: str) -> Principal:
    async def get() -> Principal:
        rec = await srv.services.directory.require_account(address)
        return await srv.services.directory.principal_for(rec)
    return srv.call(get())


def install(srv: RunningServer, address: str, script: str, name: str = "main") -> None:
    scripts = srv.services.sieve_scripts
    who = principal(srv, address)
    srv.call(scripts.put(who, name, script))
    srv.call(scripts.activate(who, name))


def send(srv: RunningServer, rcpts: list[str], subject: str = "hello", body: str = "Body\r\n",
         headers: str = "", sender: str = SENDER) -> int:
    message = (f"From: <{sender}>\r\nTo: <{rcpts[0]}>\r\nSubject: {subject}\r\n"
               f"Message-ID: <{subject.replace(' ', '.')}@example.net>\r\n{headers}\r\n"
               f"{body}").encode()
    with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as s:
        s.ehlo("client.example")
        s.mail(sender)
        for rcpt in rcpts:
            assert s.rcpt(rcpt)[0] == 250
        code, text = s.data(message)
    assert code == 250, text
    found = re.search(rb"queued as (\d+)", text)
    assert found is not None
    return int(found.group(1))


def folder(srv: RunningServer, who: tuple[str, str], name: str = "INBOX",
           ) -> list[tuple[set[str], bytes]]:
    """(flags, message) of every message in ``name``, over IMAP."""
    m = imaplib.IMAP4(host="127.0.0.1", port=srv.port("imap"))
    m.starttls(insecure_context())
    m.login(*who)
    try:
        status, data = m.select(f'"{name}"', readonly=True)
        if status != "OK" or not int(data[0] or 0):
            return []
        _, parts = m.fetch("1:*", "(FLAGS BODY.PEEK[])")
    finally:
        m.logout()
    out = []
    for part in parts:
        if isinstance(part, tuple):
            flags = re.search(rb"FLAGS \(([^)]*)\)", part[0])
            names = set(flags.group(1).decode().split()) if flags else set()
            out.append((names, part[1]))
    return out


def subjects(srv: RunningServer, who: tuple[str, str], name: str = "INBOX") -> list[str]:
    return [str(email.message_from_bytes(m)["Subject"]) for _, m in folder(srv, who, name)]


def delivered_reason(logged: object, queue_id: int, rcpt: str) -> str:
    """The mail log's reason on the ``delivered`` (or ``bounced``) line for ``rcpt``."""
    for e in logged.since(0):  # type: ignore[attr-defined]
        r = e.record
        if r.getMessage() in ("delivered", "bounced") and \
                getattr(r, "queue_id", None) == queue_id and getattr(r, "to", "") == f"<{rcpt}>":
            return str(getattr(r, "reason", ""))
    return ""


def make_folder(srv: RunningServer, address: str, name: str) -> None:
    srv.call(srv.services.mailboxes.create(principal(srv, address), name))


def test_fileinto_files_into_the_folder_and_the_log_says_so(srv: RunningServer) -> None:
    who = user(srv, 'require "fileinto";\n'
                    'if header :contains "list-id" "<foo.lists.example>" {\n'
                    '  fileinto "Lists/foo";\n}\n')
    make_folder(srv, who[0], "Lists/foo")
    with server_log() as logged:
        listed = send(srv, [who[0]], "from the list", headers="List-Id: <foo.lists.example>\r\n")
        plain = send(srv, [who[0]], "just for me")
        wait_for(lambda: delivered_reason(logged, plain, who[0]) != "")
        assert delivered_reason(logged, listed, who[0]) == "sieve: fileinto Lists/foo"
        assert delivered_reason(logged, plain, who[0]) == "sieve: keep"
    assert subjects(srv, who, "Lists/foo") == ["from the list"]
    assert subjects(srv, who) == ["just for me"]


def test_flags_and_keywords_are_set_on_the_copy(srv: RunningServer) -> None:
    who = user(srv, 'require ["fileinto", "imap4flags"];\n'
                    'if header :contains "subject" "urgent" {\n'
                    '  addflag "\\\\Flagged";\n  addflag "$Important";\n}\n'
                    'if header :contains "subject" "read" {\n'
                    '  fileinto :flags "\\\\Seen" "Archive";\n  stop;\n}\n')
    send(srv, [who[0]], "urgent matter")
    send(srv, [who[0]], "already read")
    inbox = folder(srv, who)
    assert len(inbox) == 1 and {"\\Flagged", "$Important"} <= inbox[0][0]
    archive = folder(srv, who, "Archive")
    assert len(archive) == 1 and "\\Seen" in archive[0][0] and \
        "\\Flagged" not in archive[0][0]


def test_discard_files_nothing(srv: RunningServer) -> None:
    who = user(srv, 'if header :contains "subject" "spam" { discard; stop; }\n')
    with server_log() as logged:
        dropped = send(srv, [who[0]], "buy spam now")
        kept = send(srv, [who[0]], "a real one")
        wait_for(lambda: delivered_reason(logged, kept, who[0]) != "")
        assert delivered_reason(logged, dropped, who[0]) == "sieve: discard"
    assert subjects(srv, who) == ["a real one"]
    assert all(e.id not in (dropped, kept) for e in srv.call(srv.services.queue.list()))


def _notices(srv: RunningServer, to: str) -> list[bytes]:
    out = []
    for e in srv.call(srv.services.queue.list()):
        if e.sender == "" and to in e.recipients:
            with srv.services.queue.open(e) as fh:
                out.append(fh.read())
    return out


def test_reject_sends_a_notice_with_the_reason(srv: RunningServer) -> None:
    who = user(srv, 'require "reject";\n'
                    'if header :contains "subject" "offer" {\n'
                    '  reject text:\nI do not want offers.\nPlease stop.\n.\n;\n}\n')
    sender = "rejected-sender@example.net"
    with server_log() as logged:
        queue_id = send(srv, [who[0]], "special offer", sender=sender)
        wait_for(lambda: len(_notices(srv, sender)) == 1, what="a notice to the sender")
        assert delivered_reason(logged, queue_id, who[0]).startswith("sieve: reject: 550 5.7.1")
    notice = _notices(srv, sender)[0]
    assert b"I do not want offers. Please stop." in notice
    assert re.search(rb"Status: 5\.7\.1", notice) and \
        re.search(rb"Final-Recipient: rfc822; ?" + re.escape(who[0].encode()), notice)
    assert folder(srv, who) == []
    for e in srv.call(srv.services.queue.list()):  # leave the shared queue empty
        srv.call(srv.services.queue.delete(e.id))


def test_reject_by_a_group_member_tells_the_sender_and_the_others_get_it(
        srv: RunningServer) -> None:
    picky = user(srv, 'require "reject";\nreject "not for me";\n', "picky")
    other = user(srv, None, "other")
    srv.call(srv.services.admin.groups.add(Actor(Principal.operator(), Origin.cli()),
                                           "team@example.test", [picky[0], other[0]]))
    sender = "group-sender@example.net"
    send(srv, ["team@example.test"], "to the team", sender=sender)
    wait_for(lambda: len(_notices(srv, sender)) == 1, what="a notice naming the member")
    notice = _notices(srv, sender)[0]
    assert b"not for me" in notice and picky[0].encode() in notice
    assert subjects(srv, other) == ["to the team"] and folder(srv, picky) == []
    for e in srv.call(srv.services.queue.list()):
        srv.call(srv.services.queue.delete(e.id))


def test_fileinto_create_makes_the_folder(srv: RunningServer) -> None:
    who = user(srv, 'require ["fileinto", "mailbox", "variables"];\n'
                    'if header :matches "subject" "for *" {\n'
                    '  fileinto :create "Projects/${1}";\n}\n')
    send(srv, [who[0]], "for apollo")
    assert subjects(srv, who, "Projects/apollo") == ["for apollo"]
    assert folder(srv, who) == []


def test_a_folder_without_the_right_is_not_there_and_the_message_stays_in_inbox(
        srv: RunningServer) -> None:
    owner = user(srv, None, "owner")
    make_folder(srv, owner[0], "Shared")
    make_folder(srv, owner[0], "Open")
    filer = user(srv, None, "filer")
    acl = srv.services.acl
    own = principal(srv, owner[0])
    srv.call(acl.set(own, "Shared", filer[0], "lr", Origin.cli()))  # no i
    srv.call(acl.set(own, "Open", filer[0], "lri", Origin.cli()))
    install(srv, filer[0], 'require ["fileinto", "mailbox"];\n'
                           f'if mailboxexists "Other Users/{owner[0]}/Shared" {{\n'
                           '  fileinto "Visible";\n}\n'
                           'if header :contains "subject" "shared" {\n'
                           f'  fileinto "Other Users/{owner[0]}/Shared";\n}} else {{\n'
                           f'  fileinto "Other Users/{owner[0]}/Open";\n}}\n')
    with server_log() as logged:
        refused = send(srv, [filer[0]], "shared thing")
        send(srv, [filer[0]], "open thing")
        wait_for(lambda: delivered_reason(logged, refused, filer[0]) != "")
        assert "no such folder → kept in INBOX" in delivered_reason(logged, refused, filer[0])
    assert subjects(srv, filer) == ["shared thing"]
    assert subjects(srv, owner, "Open") == ["open thing"]
    assert folder(srv, owner, "Shared") == []


def test_header_edits_are_on_the_delivered_copy(srv: RunningServer) -> None:
    who = user(srv, 'require "editheader";\n'
                    'addheader "X-Sieve-Seen" "yes";\n'
                    'deleteheader "X-Remove-Me";\n')
    send(srv, [who[0]], "edited", headers="X-Remove-Me: secret\r\nX-Keep: kept\r\n",
         body="The body stays.\r\n")
    [(_, raw)] = folder(srv, who)
    parsed = email.message_from_bytes(raw)
    assert parsed["X-Sieve-Seen"] == "yes" and parsed["X-Remove-Me"] is None
    assert parsed["X-Keep"] == "kept" and parsed["Subject"] == "edited"
    assert raw.endswith(b"\r\n\r\nThe body stays.\r\n")


def test_an_error_or_a_limit_keeps_the_message_in_inbox_and_logs_the_cause(
        srv: RunningServer) -> None:
    # more actions than sieve.max_actions (6)
    many = user(srv, 'require ["fileinto", "copy"];\n' + "".join(
        f'fileinto :copy "Folder{n}";\n' for n in range(8)))
    # a script that includes itself, round and round
    looping = user(srv, None, "looping")
    scripts = srv.services.sieve_scripts
    me = principal(srv, looping[0])
    srv.call(scripts.put(me, "self", 'require "include";\ninclude :personal "self";\n'))
    srv.call(scripts.activate(me, "self"))
    with server_log() as logged:
        limited = send(srv, [many[0]], "too many actions")
        looped = send(srv, [looping[0]], "round and round")
        wait_for(lambda: delivered_reason(logged, looped, looping[0]) != "")
        reason = delivered_reason(logged, limited, many[0])
        assert reason.startswith("sieve: error script 'main'") and "more than 6 actions" in \
            reason and reason.endswith("→ kept in INBOX")
        assert "include" in delivered_reason(logged, looped, looping[0])
        warned = [e for e in logged.since(0) if e.record.getMessage().startswith("sieve error")]
        assert len(warned) == 2
    assert subjects(srv, many) == ["too many actions"]
    assert subjects(srv, looping) == ["round and round"]
    for n in range(8):
        assert folder(srv, many, f"Folder{n}") == []


def test_body_is_read_only_when_a_body_test_asks(srv: RunningServer) -> None:
    delivery = srv.services.delivery
    headers_only = user(srv, 'require "fileinto";\n'
                             'if header :contains "subject" "big" { fileinto "Big"; }\n')
    body_test = user(srv, 'require ["fileinto", "body"];\n'
                          'if body :contains "needle" { fileinto "Found"; }\n')
    make_folder(srv, headers_only[0], "Big")
    make_folder(srv, body_test[0], "Found")
    big = "x" * 1000 + "\r\n"
    early = "needle\r\n" + big * 300  # 300 KB, the needle at the start
    late = big * 300 + "needle\r\n"  # beyond sieve.max_body_size: not looked at
    before = delivery.body_reads
    send(srv, [headers_only[0]], "big one", body=early)
    assert delivery.body_reads == before  # a header test reads no body
    assert subjects(srv, headers_only, "Big") == ["big one"]
    send(srv, [body_test[0]], "needle early", body=early)
    send(srv, [body_test[0]], "needle late", body=late)
    assert delivery.body_reads == before + 2
    assert subjects(srv, body_test, "Found") == ["needle early"]
    assert subjects(srv, body_test) == ["needle late"]
    [(_, raw)] = folder(srv, body_test, "Found")
    assert len(raw) > 300_000  # the copy is the whole message, not what the test read


def test_administrators_scripts_run_before_and_after_the_users(srv: RunningServer) -> None:
    op = Principal.operator()
    srv.call(srv.services.directory.add_domain("admins.test"))
    scripts = srv.services.sieve_scripts
    ann_address, ann_password = "ann@admins.test", "pw-ann-123456"

    async def make() -> None:
        rec = await srv.services.directory.add_account(ann_address, ann_password)
        await srv.services.mailboxes.ensure_defaults(rec.id, rec.domain_id)
    srv.call(make())
    ann = (ann_address, ann_password)
    for name in ("Audit", "Lists", "Late"):
        make_folder(srv, ann_address, name)
    srv.call(scripts.admin_put(op, "admins.test", "before",
                               'require ["fileinto", "copy", "imap4flags"];\n'
                               'fileinto :copy "Audit";\n'
                               'if header :contains "subject" "quarantine" {\n'
                               '  fileinto "Junk";\n}\n'))
    srv.call(scripts.admin_put(op, "admins.test", "after",
                               'require "fileinto";\nfileinto "Late";\n'))
    install(srv, ann_address, 'require "fileinto";\n'
                              'if header :contains "subject" "list" { fileinto "Lists"; }\n')
    send(srv, [ann_address], "a list post")  # user files: the after script does not run
    send(srv, [ann_address], "plain mail")  # user keeps: the after script runs, it files
    send(srv, [ann_address], "quarantine list")  # before files: the user's does not run
    assert sorted(subjects(srv, ann, "Audit")) == ["a list post", "plain mail",
                                                   "quarantine list"]
    assert subjects(srv, ann, "Lists") == ["a list post"]
    assert subjects(srv, ann, "Late") == ["plain mail"]
    assert subjects(srv, ann, "Junk") == ["quarantine list"]
    assert folder(srv, ann) == []
    srv.call(scripts.admin_put(op, "admins.test", "before", None))
    srv.call(scripts.admin_put(op, "admins.test", "after", None))
    send(srv, [ann_address], "after removal")
    assert subjects(srv, ann) == ["after removal"]


def test_a_script_changed_takes_effect_at_the_next_delivery(srv: RunningServer) -> None:
    who = user(srv, "discard;\n")
    send(srv, [who[0]], "gone")
    install(srv, who[0], "keep;\n", name="other")
    send(srv, [who[0]], "kept")
    srv.call(srv.services.sieve_scripts.activate(principal(srv, who[0]), ""))
    send(srv, [who[0]], "no script")
    assert subjects(srv, who) == ["kept", "no script"]


def test_switched_off_scripts_do_not_run(tmp_path: Path) -> None:
    server = RunningServer(server_config(tmp_path, extra=[
        "smtp.mx.enabled=true", "smtp.mx.port=0", "sieve.enabled=false"]))
    try:
        who = user(server, "discard;\n")
        send(server, [who[0]], "still delivered")
        assert subjects(server, who) == ["still delivered"]
        assert server.call(server.services.sieve_scripts.active(
            principal(server, who[0]))) == "main"  # stored scripts are kept
    finally:
        server.stop()


def test_a_failed_run_keeps_the_original_header(srv: RunningServer) -> None:
    """RFC 5293 §7: edits made before a run fails are not kept."""
    who = user(srv, 'require ["editheader", "fileinto", "copy"];\n'
                    'addheader "X-Edited" "yes";\n' + "".join(
                        f'fileinto :copy "Nowhere{n}";\n' for n in range(8)))
    send(srv, [who[0]], "failing after an edit")
    [(_, raw)] = folder(srv, who)
    assert b"X-Edited" not in raw


def test_duplicate_remembers_what_was_delivered(srv: RunningServer) -> None:
    """RFC 7352 through the environment's memory, committed with the delivery."""
    who = user(srv, 'require "duplicate";\nif duplicate { discard; stop; }\n')
    send(srv, [who[0]], "same message")
    send(srv, [who[0]], "same message")  # the same Message-ID
    send(srv, [who[0]], "another one")
    assert subjects(srv, who) == ["same message", "another one"]
