"""Limits of the file area's dead properties, set low here (web.dav.max_property_size 2048,
web.dav.max_dead_properties 10) so that each is reached: beyond them a PROPPATCH is refused
whole (413, 507) and nothing of it is stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dav import DAV, Dav
from tests.support.server import RunningServer, server_config

USER = "lima@example.test"
AREA = f"/dav/files/{USER}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(
        Path(tmp_path_factory.mktemp("davlimits")),
        extra=[*DAV, "web.dav.max_property_size=2048", "web.dav.max_dead_properties=10"]))
    try:
        yield srv
    finally:
        srv.stop()


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
                               _update("<Z:big>" + "v" * 2100 + "</Z:big>"))
    assert status == 413
    assert b"big" not in _names(dav)
    status, _, _ = dav.request(USER, "PROPPATCH", f"{AREA}/p.txt",
                               _update("<Z:fits>" + "v" * 1900 + "</Z:fits>"))
    assert status == 207
    many = "".join(f"<Z:p{i}>{i}</Z:p{i}>" for i in range(9))
    status, _, _ = dav.request(USER, "PROPPATCH", f"{AREA}/p.txt", _update(many))
    assert status == 207
    status, _, _ = dav.request(USER, "PROPPATCH", f"{AREA}/p.txt", _update("<Z:one>1</Z:one>"))
    assert status == 507
    assert b"one" not in _names(dav)
    # replacing one that is there is no new property; removing one makes room
    status, _, body = dav.request(USER, "PROPPATCH", f"{AREA}/p.txt",
                                  _update("<Z:p5>five</Z:p5>"))
    assert status == 207 and b"200 OK" in body
    status, _, _ = dav.request(
        USER, "PROPPATCH", f"{AREA}/p.txt",
        '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:remove><D:prop><Z:p0/>'
        "</D:prop></D:remove><D:set><D:prop><Z:one>1</Z:one></D:prop></D:set>"
        "</D:propertyupdate>")
    assert status == 207
    # and DELETE takes them all away: a new file of the same name starts bare
    assert dav.request(USER, "DELETE", f"{AREA}/p.txt")[0] == 204
    assert dav.request(USER, "PUT", f"{AREA}/p.txt", b"y")[0] == 201
    assert b"p5" not in _names(dav)
