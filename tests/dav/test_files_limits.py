"""Limits of the file area's dead properties at their defaults (web.dav.max_property_size
64 KiB, web.dav.max_dead_properties 1000): beyond them a PROPPATCH is refused whole (413,
507) and nothing of it is stored."""

from __future__ import annotations

from tests.support.dav import Dav

USER = "lima@example.test"
AREA = f"/dav/files/{USER}"


def _update(props: str) -> str:
    return ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">'
            f"<D:set><D:prop>{props}</D:prop></D:set></D:propertyupdate>")


def _names(dav: Dav) -> bytes:
    status, _, body = dav.request(USER, "PROPFIND", f"{AREA}/p.txt",
                                  '<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>',
                                  {"Depth": "0"})
    assert status == 207
    return body


def test_property_size_and_count(dav: Dav) -> None:
    dav.account(USER)
    assert dav.request(USER, "PUT", f"{AREA}/p.txt", b"x")[0] == 201
    status, _, _ = dav.request(USER, "PROPPATCH", f"{AREA}/p.txt",
                               _update("<Z:big>" + "v" * (65 * 1024) + "</Z:big>"))
    assert status == 413
    assert b"big" not in _names(dav)
    many = "".join(f"<Z:p{i}>{i}</Z:p{i}>" for i in range(1000))
    status, _, _ = dav.request(USER, "PROPPATCH", f"{AREA}/p.txt", _update(many))
    assert status == 207
    status, _, _ = dav.request(USER, "PROPPATCH", f"{AREA}/p.txt", _update("<Z:one>1</Z:one>"))
    assert status == 507
    assert b"one" not in _names(dav)
    # replacing one that is there is no new property
    status, _, body = dav.request(USER, "PROPPATCH", f"{AREA}/p.txt",
                                  _update("<Z:p5>five</Z:p5>"))
    assert status == 207 and b"200 OK" in body
    # and DELETE takes them all away: a new file of the same name starts bare
    assert dav.request(USER, "DELETE", f"{AREA}/p.txt")[0] == 204
    assert dav.request(USER, "PUT", f"{AREA}/p.txt", b"y")[0] == 201
    assert b"p5" not in _names(dav)
