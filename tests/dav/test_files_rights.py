"""Another user's file area (issue 24): reachable by its owner path when the ACL lets the
viewer see it, with what the rights allow (read-only: GET and PROPFIND yes, PUT/MKCOL/DELETE/
LOCK 403); without ``l`` it is 404, byte for byte the answer for an area or a file that does
not exist."""

from __future__ import annotations

from tests.support.dav import Dav

OWNER = "olga@example.test"
READER = "rita@example.test"
WRITER = "walt@example.test"
STRANGER = "sten@example.test"
AREA = f"/dav/files/{OWNER}"
PRIVS = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
         "<D:current-user-privilege-set/></D:prop></D:propfind>")
LOCK = ('<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
        "</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>")


def _setacl(dav: Dav, owner: str, folder: str, who: str, rights: str) -> None:
    imap = dav.imap(owner)
    try:
        typ, data = imap._simple_command("SETACL", folder, who, f'"{rights}"')  # type: ignore[attr-defined]
        assert typ == "OK", data
    finally:
        imap.logout()


def _setup(dav: Dav) -> None:
    for who in (OWNER, READER, WRITER, STRANGER):
        dav.account(who)
    assert dav.request(OWNER, "PUT", f"{AREA}/report.txt", b"numbers",
                       {"Content-Type": "text/plain"})[0] in (201, 204)
    _setacl(dav, OWNER, "Documents", READER, "lr")
    _setacl(dav, OWNER, "Documents", WRITER, "lrite")


def test_read_only_share(dav: Dav) -> None:
    _setup(dav)
    status, _, body = dav.request(READER, "GET", f"{AREA}/report.txt")
    assert (status, body) == (200, b"numbers")
    status, _, body = dav.request(READER, "PROPFIND", f"{AREA}/", PRIVS, {"Depth": "1"})
    assert status == 207 and b"report.txt" in body and b"<D:read/>" in body
    assert b"<D:bind/>" not in body
    for method, path, body_ in (("PUT", "/report.txt", b"mine"), ("PUT", "/new.txt", b"x"),
                                ("DELETE", "/report.txt", b""), ("MKCOL", "/sub/", b""),
                                ("LOCK", "/report.txt", LOCK.encode()),
                                ("PROPPATCH", "/report.txt",
                                 b'<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
                                 b'<x xmlns="urn:x">1</x></D:prop></D:set>'
                                 b"</D:propertyupdate>")):
        status, _, _ = dav.request(READER, method, AREA + path, body_)
        assert status == 403, (method, path, status)
    status, _, _ = dav.request(READER, "COPY", f"{AREA}/report.txt", b"", {
        "Destination": f"{dav.base}/dav/files/{READER}/copied.txt"})
    assert status == 201  # reading theirs, writing one's own
    assert dav.request(READER, "GET", f"/dav/files/{READER}/copied.txt")[2] == b"numbers"
    status, _, _ = dav.request(READER, "MOVE", f"{AREA}/report.txt", b"", {
        "Destination": f"{dav.base}/dav/files/{READER}/moved.txt"})
    assert status == 403  # a move deletes the source
    assert dav.request(OWNER, "GET", f"{AREA}/report.txt")[2] == b"numbers"


def test_writer_share(dav: Dav) -> None:
    _setup(dav)
    assert dav.request(WRITER, "PUT", f"{AREA}/from-walt.txt", b"hi")[0] == 201
    assert dav.request(WRITER, "PUT", f"{AREA}/from-walt.txt", b"hi again")[0] == 204
    assert dav.request(OWNER, "GET", f"{AREA}/from-walt.txt")[2] == b"hi again"
    assert dav.request(WRITER, "MKCOL", f"{AREA}/walts/")[0] == 403  # no k
    # the owner's lock binds the writer too
    status, head, _ = dav.request(OWNER, "LOCK", f"{AREA}/from-walt.txt", LOCK)
    assert status == 200
    status, _, body = dav.request(WRITER, "PUT", f"{AREA}/from-walt.txt", b"x")
    assert status == 423 and b"lock-token-submitted" in body
    # a token is not a capability another user can borrow (RFC 4918 §6.4)
    status, _, _ = dav.request(WRITER, "PUT", f"{AREA}/from-walt.txt", b"x",
                               {"If": f"({head['lock-token']})"})
    assert status == 423
    assert dav.request(WRITER, "DELETE", f"{AREA}/from-walt.txt")[0] == 423
    assert dav.request(OWNER, "UNLOCK", f"{AREA}/from-walt.txt", b"",
                       {"Lock-Token": head["lock-token"]})[0] == 204
    assert dav.request(WRITER, "DELETE", f"{AREA}/from-walt.txt")[0] == 204
    # MOVE between areas: a copy into the target, then a delete of the source (t, e)
    assert dav.request(WRITER, "PUT", f"{AREA}/travel.txt", b"trip")[0] == 201
    status, _, _ = dav.request(WRITER, "MOVE", f"{AREA}/travel.txt", b"", {
        "Destination": f"{dav.base}/dav/files/{WRITER}/travel.txt"})
    assert status == 201
    assert dav.request(WRITER, "GET", f"/dav/files/{WRITER}/travel.txt")[2] == b"trip"
    assert dav.request(OWNER, "GET", f"{AREA}/travel.txt")[0] == 404


def test_no_lookup_right_is_404_like_missing(dav: Dav) -> None:
    _setup(dav)
    hidden = [dav.request(STRANGER, m, p, b, {"Depth": "0"}) for m, p, b in (
        ("PROPFIND", f"{AREA}/", PRIVS), ("GET", f"{AREA}/report.txt", ""),
        ("PUT", f"{AREA}/report.txt", "x"), ("DELETE", f"{AREA}/report.txt", ""),
        ("MKCOL", f"{AREA}/x/", ""), ("LOCK", f"{AREA}/report.txt", LOCK))]
    missing = [dav.request(STRANGER, m, p, b, {"Depth": "0"}) for m, p, b in (
        ("PROPFIND", "/dav/files/nobody@example.test/", PRIVS),
        ("GET", "/dav/files/nobody@example.test/report.txt", ""),
        ("PUT", "/dav/files/nobody@example.test/report.txt", "x"),
        ("DELETE", "/dav/files/nobody@example.test/report.txt", ""),
        ("MKCOL", "/dav/files/nobody@example.test/x/", ""),
        ("LOCK", "/dav/files/nobody@example.test/report.txt", LOCK))]
    for (s1, h1, b1), (s2, h2, b2) in zip(hidden, missing, strict=True):
        assert s1 == s2 == 404
        assert b1 == b2
        assert h1.get("content-type") == h2.get("content-type")
    # and a missing file in a visible area is the same answer as well
    status, _, body = dav.request(READER, "GET", f"{AREA}/absent.txt")
    assert (status, body) == (404, missing[1][2])


def test_delete_without_read(dav: Dav) -> None:
    """Rights are the table's, not more: ``t`` + ``e`` delete a file the viewer may not read
    (the dead properties go with it all the same)."""
    _setup(dav)
    cleaner = dav.account("dean@example.test")
    _setacl(dav, OWNER, "Documents", cleaner, "lte")
    assert dav.request(OWNER, "PUT", f"{AREA}/junk.txt", b"junk")[0] == 201
    dav.request(OWNER, "PROPPATCH", f"{AREA}/junk.txt",
                '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:x">1</x>'
                "</D:prop></D:set></D:propertyupdate>")
    assert dav.request(cleaner, "GET", f"{AREA}/junk.txt")[0] == 403
    assert dav.request(cleaner, "DELETE", f"{AREA}/junk.txt")[0] == 204
    assert dav.request(OWNER, "GET", f"{AREA}/junk.txt")[0] == 404


def test_refused_copy_leaves_the_destination(dav: Dav) -> None:
    """All rights are checked before anything changes: someone who may delete but not
    insert cannot destroy a file by copying onto it."""
    _setup(dav)
    cleaner = dav.account("dean@example.test")
    _setacl(dav, OWNER, "Documents", cleaner, "lrte")
    assert dav.request(OWNER, "PUT", f"{AREA}/keep.txt", b"precious")[0] in (201, 204)
    assert dav.request(cleaner, "PUT", f"/dav/files/{cleaner}/mine.txt", b"other")[0] in (
        201, 204)
    status, _, _ = dav.request(cleaner, "COPY", f"/dav/files/{cleaner}/mine.txt", b"", {
        "Destination": f"{dav.base}{AREA}/keep.txt"})
    assert status == 403
    assert dav.request(OWNER, "GET", f"{AREA}/keep.txt")[2] == b"precious"
