"""CREATE DELETE RENAME SUBSCRIBE LIST LSUB NAMESPACE QUOTA (RFC 9051 §6.3.4–10; RFC 5258;
RFC 5819; RFC 6154; RFC 2342; RFC 9208)."""

from __future__ import annotations

from tests.protocol.imap.conftest import message
from tests.support.imapclient import RawImap
from tests.support.server import RunningServer


def test_list_delimiter_and_defaults(client: RawImap) -> None:
    assert client.ok('LIST "" ""') == [b'* LIST (\\Noselect) "/" ""']
    lines = client.ok('LIST "" "*"')
    assert lines[0] == b'* LIST (\\HasNoChildren) "/" "INBOX"'
    assert b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"' in lines
    assert b'* LIST (\\HasNoChildren \\Trash) "/" "Trash"' in lines


def test_create_nested_and_wildcards(client: RawImap) -> None:
    client.ok("CREATE Projects/2026/Q1")
    assert client.ok('LIST "" "Projects/%"') == [
        b'* LIST (\\HasChildren) "/" "Projects/2026"']
    assert client.ok('LIST "Projects/" "*"') == [
        b'* LIST (\\HasChildren) "/" "Projects/2026"',
        b'* LIST (\\HasNoChildren) "/" "Projects/2026/Q1"']
    assert client.ok('LIST "" "%"')[0] == b'* LIST (\\HasNoChildren) "/" "INBOX"'
    assert b'* LIST (\\HasChildren) "/" "Projects"' in client.ok('LIST "" "%"')
    _, tagged = client.cmd("CREATE Projects")
    assert b" NO [ALREADYEXISTS] Mailbox already exists: Projects" in tagged
    assert b"NO [ALREADYEXISTS]" in client.cmd("CREATE inbox")[1]
    client.ok("CREATE Trailing/")
    assert client.ok('LIST "" Trailing') == [b'* LIST (\\HasNoChildren) "/" "Trailing"']


def test_create_special_use(client: RawImap) -> None:
    client.ok("CREATE MySent (USE (\\Sent))")
    assert client.ok('LIST "" MySent') == [b'* LIST (\\HasNoChildren \\Sent) "/" "MySent"']
    assert b"NO [USEATTR]" in client.cmd("CREATE X (USE (\\All))")[1]
    lines = client.ok('LIST (SPECIAL-USE) "" "*"')
    assert all(b"\\" in line.split(b")")[0] for line in lines) and len(lines) >= 6


def test_modified_utf7_names(client: RawImap) -> None:
    client.ok('CREATE "Entw&APw-rfe"')
    assert b'"Entw&APw-rfe"' in b"".join(client.ok('LIST "" "Entw*"'))
    client.ok("ENABLE UTF8=ACCEPT")
    assert client.ok('LIST "" "Entw*"') == [b'* LIST (\\HasNoChildren) "/" "Entw\xc3\xbcrfe"']


def test_delete_rules(client: RawImap) -> None:
    client.ok("CREATE Parent/Child")
    assert b"NO [HASCHILDREN]" in client.cmd("DELETE Parent")[1]
    client.ok("DELETE Parent/Child")
    client.ok("DELETE Parent")
    assert b"NO [NONEXISTENT]" in client.cmd("DELETE Parent")[1]
    assert b" NO " in client.cmd("DELETE INBOX")[1]


def test_rename_keeps_children_and_inbox_rule(client: RawImap) -> None:
    client.ok("CREATE Old/Sub")
    client.ok("RENAME Old New")
    lines = client.ok('LIST "" "New*"')
    assert b'"New/Sub"' in b"".join(lines)
    client.append("INBOX", message("kept"))
    client.ok("RENAME INBOX Saved")  # RFC 9051 §6.3.6
    assert b"MESSAGES 0" in client.ok("STATUS INBOX (MESSAGES)")[0]
    assert b"MESSAGES 1" in client.ok("STATUS Saved (MESSAGES)")[0]
    assert b"NO [ALREADYEXISTS]" in client.cmd("RENAME Saved New")[1]


def test_subscriptions_lsub_and_list_extended(client: RawImap) -> None:
    client.ok("CREATE Lists/Python")
    client.ok("SUBSCRIBE Lists/Python")
    client.ok("SUBSCRIBE INBOX")
    assert client.ok('LSUB "" "*"') == [b'* LSUB () "/" "INBOX"',
                                        b'* LSUB () "/" "Lists/Python"']
    assert client.ok('LSUB "" "%"') == [b'* LSUB () "/" "INBOX"',
                                        b'* LSUB (\\Noselect) "/" "Lists"']
    lines = client.ok('LIST (SUBSCRIBED) "" "*"')
    assert b'* LIST (\\HasNoChildren \\Subscribed) "/" "Lists/Python"' in lines
    lines = client.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    assert b'* LIST (\\HasChildren) "/" "Lists" ("CHILDINFO" ("SUBSCRIBED"))' in lines
    lines = client.ok('LIST "" "*" RETURN (SUBSCRIBED CHILDREN)')
    assert b'* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX"' in lines
    client.ok("UNSUBSCRIBE Lists/Python")
    assert client.ok('LSUB "" "Lists*"') == []
    assert b"NO [NONEXISTENT]" in client.cmd("SUBSCRIBE Nope")[1]


def test_list_status(client: RawImap) -> None:
    client.append("Drafts", message())
    lines = client.ok('LIST "" "Drafts" RETURN (STATUS (MESSAGES UNSEEN))')
    assert lines == [b'* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
                     b'* STATUS "Drafts" (MESSAGES 1 UNSEEN 1)']


def test_namespace(client: RawImap) -> None:
    assert client.ok("NAMESPACE") == [
        b'* NAMESPACE (("" "/")) (("Other Users/" "/")) (("Public Folders/" "/"))']


def test_quota(imap_server: RunningServer) -> None:
    user, password = imap_server.add_user(quota=2048)
    c = RawImap(imap_server.port("imap"))
    c.login(user, password)
    lines = c.ok("GETQUOTAROOT INBOX")
    assert lines == [b'* QUOTAROOT "INBOX" ""', b'* QUOTA "" (STORAGE 0 2)']
    tagged = c.append("INBOX", message(body="x" * 4000))
    assert b"NO [OVERQUOTA]" in tagged
    assert c.ok('GETQUOTA ""') == [b'* QUOTA "" (STORAGE 0 2)']
    assert b"NO [NOPERM]" in c.cmd('SETQUOTA "" (STORAGE 10)')[1]


def test_dot_levels_and_long_levels_refused(client: RawImap) -> None:
    """Issue 19, finding 4: '.', '..' and levels over 255 bytes could escape an export."""
    for name in ('"."', '".."', '"Work/.."', '"../x"', '"a/./b"', "a" * 256,
                 '"' + "&AOk-" * 128 + '"'):  # 128 x U+00E9: 256 bytes of UTF-8
        _, tagged = client.cmd(f"CREATE {name}")
        assert b" NO [CANNOT]" in tagged, (name, tagged)
    client.ok("CREATE " + "a" * 255)
    client.ok("CREATE Plain")
    for name in ('"Plain/.."', '".."', "b" * 256):
        _, tagged = client.cmd(f"RENAME Plain {name}")
        assert b" NO [CANNOT]" in tagged, (name, tagged)
    assert b'"Plain"' in b"".join(client.ok('LIST "" Plain'))
    client.ok('CREATE "...dots..."')  # dots inside a level are an ordinary name
